package web_test

import (
	"strings"
	"testing"

	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// TestManageAPIQuotaAndRateLimit: the management API sets, shows and
// removes a key's quota and rate limit through the console's store
// methods: the quota is enforced at once, a change is audited with
// before/after, and bad values are refused naming the field, changing
// nothing.
func TestManageAPIQuotaAndRateLimit(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		_, secret := managementKey(t, ts, demo.ID, "Deploy bot", managementkeys.AllScopes...)
		h := bearer(secret)

		created := apiCall(t, ts.URL, "POST", "/v2/manage/keys", h, `{"name":"Metered","quota":2,"quota_period":"day","rate_limit_per_minute":100}`)
		if created.Status != 201 || created.Body["quota"] != 2.0 || created.Body["quota_period"] != "day" || created.Body["rate_limit_per_minute"] != 100.0 {
			t.Fatalf("create with limits: %d %s", created.Status, created.Raw)
		}
		id, key := created.Body["identifier"].(string), created.Body["key"].(string)

		for i, want := range []int{200, 200, 429} {
			r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, key), "")
			if r.Status != want || r.Header.Get("X-Quota-Limit") != "2" {
				t.Fatalf("call %d: %d (X-Quota-Limit %q), want %d: %s", i+1, r.Status, r.Header.Get("X-Quota-Limit"), want, r.Raw)
			}
			if want == 429 && r.Body["error_code"] != "QUOTA_EXCEEDED" {
				t.Fatalf("past the quota: %s", r.Raw)
			}
		}

		for _, c := range []struct{ body, field string }{
			{`{"quota":5,"quota_period":"week"}`, "quota_period"},
			{`{"rate_limit_per_minute":-1}`, "rate_limit_per_minute"},
			{`{"quota":"lots"}`, "quota"},
		} {
			bad := apiCall(t, ts.URL, "PATCH", "/v2/manage/keys/"+id, h, c.body)
			if bad.Status != 422 || bad.Body["field"] != c.field {
				t.Errorf("PATCH %s: %d %s, want 422 naming %s", c.body, bad.Status, bad.Raw, c.field)
			}
		}
		if got := apiCall(t, ts.URL, "GET", "/v2/manage/keys/"+id, h, ""); got.Body["quota"] != 2.0 || got.Body["rate_limit_per_minute"] != 100.0 {
			t.Fatalf("a refused patch changed the key: %s", got.Raw)
		}

		patched := apiCall(t, ts.URL, "PATCH", "/v2/manage/keys/"+id, h, `{"quota":null,"rate_limit_per_minute":null}`)
		if patched.Status != 200 || patched.Body["quota"] != nil || patched.Body["quota_period"] != nil || patched.Body["rate_limit_per_minute"] != nil {
			t.Fatalf("remove the limits: %d %s", patched.Status, patched.Raw)
		}
		var details []string
		ts.Store.DB.Raw(`SELECT details FROM audit_events WHERE action = 'api_key.updated' AND target_name = 'Metered'`).Scan(&details)
		if len(details) != 1 || !strings.Contains(details[0], `"before":{"quota":2,"quota_period":"day","rate_limit_per_minute":100}`) ||
			!strings.Contains(details[0], `"after":{"quota":0,"quota_period":"","rate_limit_per_minute":0}`) {
			t.Fatalf("the limits' change is audited as %q", details)
		}
		r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, key), "")
		if r.Status != 200 || r.Header.Get("X-Quota-Limit") != "" {
			t.Fatalf("after the quota was removed: %d (X-Quota-Limit %q) %s", r.Status, r.Header.Get("X-Quota-Limit"), r.Raw)
		}
	})
}
