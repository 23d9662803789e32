package apiauth

import (
	"context"
	_ "embed"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"keydesk/models/keys"
)

//go:embed quota_lease.lua
var quotaLeaseSource string

var quotaLeaseScript = redis.NewScript(quotaLeaseSource)

// RedisQuotaLedger keeps quota ledgers in Redis (KEYDESK_REDIS_URL): one
// hash per key and period, renewed by one atomic script call.
//
// When Redis fails it falls back as the shared rate limiter does: the
// switch is logged once (and the way back once), shown by /readyz, and
// Redis is tried again at most once per RetryInterval. While it is down
// each instance may hand out, per key and period, at most the size of the
// last lease Redis granted it (its reservation, at least one unit and
// never more than what Redis last said was left); what it spends then is
// not counted in Redis. So a quota is exceeded by at most the sum over
// instances of their last lease (each at most 1/16 of what was left and
// at most 10 000 units) per outage, and calls beyond that are refused
// until Redis answers.
type RedisQuotaLedger struct {
	client *redis.Client
	prefix string
	logger *slog.Logger
	now    func() time.Time

	down      atomic.Bool
	mu        sync.Mutex
	nextProbe time.Time
	local     map[quotaLedgerKey]*localQuota
}

type quotaLedgerKey struct {
	keyID  int64
	period string
}

// localQuota is what the instance knows of one key's period from Redis,
// and its allowance while Redis is down.
type localQuota struct {
	lastGrant int64
	left      int64 // quota - used - reserved, as Redis last said
	allowance int64
	outage    bool // allowance set for the current outage
	// lastLocal: the lease the enforcer holds came from the allowance; its
	// settlement is not Redis's to count.
	lastLocal bool
}

// NewRedisQuotaLedger connects to the Redis at url; keys start with prefix.
func NewRedisQuotaLedger(url, prefix string, logger *slog.Logger) (*RedisQuotaLedger, error) {
	client, err := newRedisClient(url)
	if err != nil {
		return nil, err
	}
	return &RedisQuotaLedger{client: client, prefix: prefix, logger: logger, now: time.Now, local: map[quotaLedgerKey]*localQuota{}}, nil
}

func (r *RedisQuotaLedger) redisKey(keyID int64, period string) string {
	return r.prefix + "quota:" + strconv.FormatInt(keyID, 10) + ":" + period
}

// RenewQuotaLease settles and renews a lease in Redis (see QuotaLedger).
func (r *RedisQuotaLedger) RenewQuotaLease(ctx context.Context, keyID int64, period string, quota, settleGranted, settleSpent, want int64) (keys.QuotaGrant, error) {
	k := quotaLedgerKey{keyID, period}
	r.mu.Lock()
	lq := r.local[k]
	if lq == nil {
		lq = &localQuota{}
		r.local[k] = lq
	}
	if lq.lastLocal {
		settleGranted, settleSpent = 0, 0 // never reserved in Redis
	}
	r.mu.Unlock()
	if r.tryRedis() {
		res, err := quotaLeaseScript.Run(ctx, r.client, []string{r.redisKey(keyID, period)},
			quota, settleGranted, settleSpent, want, int64(32*24*time.Hour/time.Second)).Int64Slice()
		if err == nil && len(res) != 3 {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		if err == nil {
			r.succeeded()
			g := keys.QuotaGrant{Granted: res[0], Used: res[1], Reserved: res[2]}
			r.mu.Lock()
			if g.Granted > 0 {
				lq.lastGrant = g.Granted
			}
			lq.left, lq.lastLocal, lq.outage = quota-g.Used-g.Reserved, false, false
			r.mu.Unlock()
			return g, nil
		}
		r.failed(err)
	}
	// Redis is down: the instance's allowance for this outage.
	r.mu.Lock()
	defer r.mu.Unlock()
	if !lq.outage {
		lq.outage, lq.allowance = true, min(max(lq.lastGrant, 1), max(lq.left, 0))
		if lq.lastGrant == 0 && lq.left == 0 {
			lq.allowance = min(1, quota) // never heard of: one unit
		}
	}
	take := min(want, lq.allowance)
	lq.allowance -= take
	lq.lastLocal = take > 0
	return keys.QuotaGrant{Granted: take, Used: quota - lq.left}, nil
}

// ForgetEndedPeriods drops what the instance knows of periods older than
// the previous one of their kind, and reports how many it dropped. A
// lease settles within seconds of its period's end, so nothing asks about
// them any more; without this the instance would keep an entry per key
// and day for as long as it runs.
func (r *RedisQuotaLedger) ForgetEndedPeriods() int {
	dayCut, monthCut := keys.OldestKeptQuotaPeriods(r.now())
	r.mu.Lock()
	defer r.mu.Unlock()
	dropped := 0
	for k := range r.local {
		cut := dayCut
		if periodKind(k.period) == keys.QuotaPeriodMonth {
			cut = monthCut
		}
		if k.period < cut {
			delete(r.local, k)
			dropped++
		}
	}
	return dropped
}

// QuotaUse reads the period's hash; while Redis is down, what the
// instance last heard.
func (r *RedisQuotaLedger) QuotaUse(ctx context.Context, keyID int64, period string) (used, reserved int64, err error) {
	if r.tryRedis() {
		vals, err := r.client.HMGet(ctx, r.redisKey(keyID, period), "used", "reserved").Result()
		if err == nil {
			r.succeeded()
			n := [2]int64{}
			for i, v := range vals {
				if s, ok := v.(string); ok {
					n[i], _ = strconv.ParseInt(s, 10, 64)
				}
			}
			return n[0], n[1], nil
		}
		r.failed(err)
	}
	return 0, 0, fmt.Errorf("quota ledger: Redis unavailable")
}

func (r *RedisQuotaLedger) tryRedis() bool {
	if !r.down.Load() {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); !now.Before(r.nextProbe) {
		r.nextProbe = now.Add(RetryInterval)
		return true
	}
	return false
}

func (r *RedisQuotaLedger) failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextProbe = r.now().Add(RetryInterval)
	if r.down.Swap(true) {
		return
	}
	r.logger.Warn("Redis quotas unavailable; each instance spends at most its last lease per key until it answers", "error", err.Error())
}

func (r *RedisQuotaLedger) succeeded() {
	if !r.down.Load() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down.Swap(false) {
		r.logger.Info("Redis quotas available again; quotas are shared")
	}
}

// Status says which ledger decides: "shared" or "local allowance (Redis
// unavailable)".
func (r *RedisQuotaLedger) Status() string {
	if r.down.Load() {
		return "local allowance (Redis unavailable)"
	}
	return "shared"
}

// Close closes the Redis connections.
func (r *RedisQuotaLedger) Close() error { return r.client.Close() }
