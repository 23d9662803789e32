package web_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// TestUsageCountsAKnownMixOfCalls sends a known mix of calls through the
// real router and checks the counts per key and outcome after a forced
// flush, and that nothing was written before it: successful, invalid, inactive,
// rate-limited, forbidden (permission and address) and expired (REST and UI
// token), per key and in keydesk_key_verifications_total.
func TestUsageCountsAKnownMixOfCalls(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.ReadPerMinute = 4 }))
		demo, other := ts.Demo.Program, ts.Other.Program
		verifications := map[string]float64{}
		for _, o := range metrics.Outcomes {
			verifications[o] = testutil.ToFloat64(metrics.KeyVerifications.WithLabelValues(o))
		}
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

		// Forbidden: a key without program:read, and one from another
		// address (the test client is 127.0.0.1).
		narrow, narrowSecret := apiKey(t, ts, demo.ID, "Narrow")
		restrict(t, ts, demo.ID, narrow, []string{"members:read"}, "")
		fenced, fencedSecret := apiKey(t, ts, demo.ID, "Fenced")
		restrict(t, ts, demo.ID, fenced, nil, "203.0.113.0/24")
		for range 2 {
			if s := get(demo.PartnerID, narrowSecret); s != http.StatusForbidden {
				t.Fatalf("key without the permission: %d, want 403", s)
			}
		}
		if s := get(demo.PartnerID, fencedSecret); s != http.StatusForbidden {
			t.Fatalf("key from another address: %d, want 403", s)
		}
		// Expired: one valid call, then three after its expiry (REST twice,
		// a UI token once).
		short, err := ts.Store.Keys.Generate(t.Context(), demo.ID, audit.Actor{}, keys.KeyInput{Name: "Short", Expiry: keys.Expiry7Days})
		if err != nil {
			t.Fatal(err)
		}
		get(demo.PartnerID, short.Secret)
		later := time.Now().AddDate(0, 0, 8)
		ts.Store.SetClock(func() time.Time { return later })
		for range 2 {
			if s := get(demo.PartnerID, short.Secret); s != http.StatusUnauthorized {
				t.Fatalf("expired key: %d, want 401", s)
			}
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": short.Identifier, "member_id": "m-1", "exp": later.Add(time.Minute).Unix()}).SignedString([]byte(short.Secret))
		if err != nil {
			t.Fatal(err)
		}
		if r := apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/ui/member", map[string]string{"partner-id": demo.PartnerID, "Authorization": "Bearer " + tok}, ""); r.Status != http.StatusUnauthorized {
			t.Fatalf("UI token of an expired key: %d, want 401", r.Status)
		}

		for outcome, want := range map[string]float64{metrics.OutcomeForbidden: 3, metrics.OutcomeExpired: 3} {
			// Counters are process-wide: other tests may add, never take away.
			if got := testutil.ToFloat64(metrics.KeyVerifications.WithLabelValues(outcome)) - verifications[outcome]; got < want {
				t.Errorf("keydesk_key_verifications_total{outcome=%q} grew by %v, want at least %v", outcome, got, want)
			}
		}

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
			{demo.ID, narrow.ID, "forbidden:2"},
			{demo.ID, fenced.ID, "forbidden_address:1"},
			{demo.ID, short.ID, "expired:3 valid:1"},
			{other.ID, shop.ID, ""},
		} {
			// Each call is in its minute row and in its hour row.
			for _, resolution := range []string{usage.Minute, usage.Hour} {
				var rows []struct {
					Outcome string
					Total   int64
				}
				ts.Store.DB.Raw(`SELECT outcome, SUM(count) AS total FROM key_usage WHERE program_id = ? AND key_id = ? AND resolution = ? GROUP BY outcome ORDER BY outcome`,
					c.program, c.key, resolution).Scan(&rows)
				got := ""
				for i, r := range rows {
					if i > 0 {
						got += " "
					}
					got += fmt.Sprintf("%s:%d", r.Outcome, r.Total)
				}
				if got != c.want {
					t.Errorf("program %d key %d, %s rows: %q, want %q", c.program, c.key, resolution, got, c.want)
				}
			}
		}
		clients, err := ts.Store.Usage.Clients(t.Context(), demo.ID, shop.ID, 5)
		if err != nil || len(clients) != 1 || clients[0].IP != "127.0.0.1" || clients[0].UserAgent != "Go-http-client/1.1" || clients[0].Count != 7 {
			t.Errorf("clients: %+v %v", clients, err)
		}
	})
}
