package main

import (
	"context"
	"fmt"
	"net/http"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"keydesk/models/audit"
	"keydesk/models/managementkeys"
)

// scenarioManage is scenario 11: one management call, GET /v2/manage/keys
// of the console program (20 keys) with a Keys: read management key, at
// concurrency 1: what a program driving its keys from code pays per call.
func (b *bench) scenarioManage() error {
	programID, err := b.consoleProgramID()
	if err != nil {
		return err
	}
	mk, err := b.store.ManagementKeys.Create(context.Background(), programID, audit.Actor{Email: "keydesk-bench"},
		managementkeys.Input{Name: "bench", Scopes: []string{string(managementkeys.ScopeKeysRead)}})
	if err != nil {
		return fmt.Errorf("create a management key: %w", err)
	}
	target := vegeta.Target{Method: http.MethodGet, URL: b.a.base + "/v2/manage/keys", Header: http.Header{"Authorization": {"Bearer " + mk.Secret}}}
	attack(vegeta.NewStaticTargeter(target), 1, b.cfg.warmup/2, "manage-warmup")
	m := attack(vegeta.NewStaticTargeter(target), 1, b.cfg.consoleDuration, "manage")
	if !onlyStatus(m, http.StatusOK) {
		return fmt.Errorf("management call under load: %s %v", statuses(m), m.Errors)
	}
	b.rep.add(row{
		scenario:   "11 management GET /v2/manage/keys, 20 keys (1 conn, sequential)",
		throughput: rps(okRate(m)),
		p50:        ms(m.Latencies.P50),
		p99:        ms(m.Latencies.P99),
		claim:      "cost reported (no target)",
		verdict:    "info",
	})
	b.rep.note("scenario 11: %d sequential management calls in %s, measured by the client over loopback", m.Requests, b.cfg.consoleDuration)
	return nil
}
