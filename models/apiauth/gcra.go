package apiauth

import (
	_ "embed" // the GCRA script
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraLeaseSource runs go-redis/redis_rate v10's AllowAtMost for several
// budgets in one call: the same arithmetic on the same Redis keys (tests
// hold it to the library), so instances on either side of an upgrade
// spend the same budgets. The library runs one budget per command; a
// batch of leases costs one command here. Its keys need not share a
// Redis Cluster slot: KEYDESK_REDIS_URL is one Redis server.
//
// The GCRA is redis_rate's, Copyright (c) 2013 The github.com/go-redis/
// redis_rate Authors (BSD 2-Clause), after github.com/rwz/redis-gcra,
// Copyright (c) 2017 Pavel Pravosud (MIT).
//
//go:embed gcra_lease.lua
var gcraLeaseSource string

var gcraLease = redis.NewScript(gcraLeaseSource)

// gcraKeyPrefix is redis_rate's prefix of every budget's Redis key.
const gcraKeyPrefix = "rate:"

// gcraArgs appends the script's arguments for a budget of perMinute
// requests a minute that may all be spent at once, asking for up to n.
func gcraArgs(args []any, perMinute, n int) []any {
	return append(args, perMinute, perMinute, time.Minute.Seconds(), n)
}

// grant is Redis's answer to a lease: how many units it granted and what
// is left of the shared budget; when it granted none, how long until one.
type grant struct {
	allowed    int
	remaining  int
	retryAfter time.Duration
	err        error
}

// parseGrants reads the script's reply for want keys.
func parseGrants(reply any, want int) ([]grant, error) {
	replies, ok := reply.([]any)
	if !ok || len(replies) != want {
		return nil, fmt.Errorf("GCRA lease script replied %v for %d keys", reply, want)
	}
	grants := make([]grant, want)
	for i, r := range replies {
		g, err := parseGrant(r)
		if err != nil {
			return nil, err
		}
		grants[i] = g
	}
	return grants, nil
}

// parseGrant reads one key's reply {allowed, remaining, retry_after,
// reset_after}.
func parseGrant(reply any) (grant, error) {
	values, ok := reply.([]any)
	if !ok || len(values) != 4 {
		return grant{}, fmt.Errorf("GCRA script replied %v", reply)
	}
	allowed, okAllowed := values[0].(int64)
	remaining, okRemaining := values[1].(int64)
	retryText, okRetry := values[2].(string)
	if !okAllowed || !okRemaining || !okRetry {
		return grant{}, fmt.Errorf("GCRA script replied %v", reply)
	}
	retry, err := strconv.ParseFloat(retryText, 64)
	if err != nil {
		return grant{}, fmt.Errorf("GCRA script's retry_after %q: %w", retryText, err)
	}
	g := grant{allowed: int(allowed), remaining: int(remaining)}
	if retry > 0 {
		g.retryAfter = time.Duration(retry * float64(time.Second))
	}
	return g, nil
}
