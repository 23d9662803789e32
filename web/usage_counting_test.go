package web_test

import (
	"fmt"
	"net/http"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// TestUsageCountsAKnownMixOfCalls sends a known mix of calls through the
// real router and checks the counts per key and outcome after a forced
// flush, and that nothing was written before it.
func TestUsageCountsAKnownMixOfCalls(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *web.APIConfig) { c.ReadPerMinute = 4 }))
		demo, other := ts.Demo.Program, ts.Other.Program
		shop, secret := apiKey(t, ts, demo.ID, "Shop")
		old, oldSecret := apiKey(t, ts, demo.ID, "Old")
		if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, old.ID, false); err != nil {
			t.Fatal(err)
		}
		get := func(partner, key string) int {
			return apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(partner, key), "").Status
		}
		for range 6 { // 4 within the budget, then 2 refused
			get(demo.PartnerID, secret)
		}
		for range 2 {
			get(demo.PartnerID, oldSecret) // inactive
		}
		get(other.PartnerID, secret) // Shop's key under another partner-id: invalid
		get(demo.PartnerID, "kd_not_a_key")

		var before int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM key_usage`).Scan(&before)
		if before != 0 {
			t.Fatalf("%d usage rows written before the flush", before)
		}
		if err := ts.App.FlushUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			program, key int64
			want         string
		}{
			{demo.ID, shop.ID, "invalid:1 rate_limited:2 valid:4"},
			{demo.ID, old.ID, "inactive:2"},
			{other.ID, shop.ID, ""},
		} {
			var rows []struct {
				Outcome string
				Total   int64
			}
			ts.Store.DB.Raw(`SELECT outcome, SUM(count) AS total FROM key_usage WHERE program_id = ? AND key_id = ? GROUP BY outcome ORDER BY outcome`, c.program, c.key).Scan(&rows)
			got := ""
			for i, r := range rows {
				if i > 0 {
					got += " "
				}
				got += fmt.Sprintf("%s:%d", r.Outcome, r.Total)
			}
			if got != c.want {
				t.Errorf("program %d key %d: %q, want %q", c.program, c.key, got, c.want)
			}
		}
		clients, err := ts.Store.Usage.Clients(t.Context(), demo.ID, shop.ID, 5)
		if err != nil || len(clients) != 1 || clients[0].IP != "127.0.0.1" || clients[0].UserAgent != "Go-http-client/1.1" || clients[0].Count != 7 {
			t.Errorf("clients: %+v %v", clients, err)
		}
	})
}
