package web_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func TestAPIRateLimitsPerKeyAndCategory(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.ReadPerMinute, c.WritePerMinute = 3, 2 }))
	demo := ts.Demo.Program
	_, secret := apiKey(t, ts, demo.ID, "Busy")
	_, calm := apiKey(t, ts, demo.ID, "Calm")
	h := restHeaders(demo.PartnerID, secret)

	for i := range 3 {
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", h, ""); r.Status != 200 {
			t.Fatalf("read %d: %d", i+1, r.Status)
		}
	}
	r := apiCall(t, ts.URL, "GET", "/v2/loyalty/members", h, "")
	canonical, _ := json.Marshal(r.Body)
	if r.Status != 429 || string(canonical) != `{"error_code":"RATE_LIMIT_EXCEEDED","reason":"Rate limit exceeded","success":false}` {
		t.Fatalf("4th read: %d %s", r.Status, canonical)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 || s > 20 {
		t.Fatalf("Retry-After = %q, want 1..20 seconds", r.Header.Get("Retry-After"))
	}
	// Writes have their own budget.
	for i := range 2 {
		if r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, fmt.Sprintf(`{"member_id":"w%d","email":"w%d@example.com"}`, i, i)); r.Status != 201 {
			t.Fatalf("write %d after reads were spent: %d %s", i+1, r.Status, r.Raw)
		}
	}
	if r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"w9","email":"w9@example.com"}`); r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("3rd write: %d", r.Status)
	}
	if _, err := ts.Store.Members.ByMemberID(t.Context(), demo.ID, "w9"); err == nil {
		t.Fatal("a rate-limited write was performed")
	}
	// Another key of the same program is not affected; bad credentials get
	// 401, not 429.
	if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, calm), ""); r.Status != 200 {
		t.Fatalf("another key limited: %d", r.Status)
	}
	assertUnauthorized(t, "bad key while limited", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, keys.NewAPIKeyString()), ""))
}

func lastUsedAt(t *testing.T, ts *testServer, programID, keyID int64) *time.Time {
	t.Helper()
	k, err := ts.Store.Keys.ByID(t.Context(), programID, keyID)
	if err != nil {
		t.Fatal(err)
	}
	return k.LastUsedAt
}

// "Last used" is written in batches: not on the request path, but by the
// background flush (and on Close), and the API Keys screen shows it.
func TestAPILastUsedIsFlushedInBatches(t *testing.T) {
	t.Run("not on the request path; flushed on close", func(t *testing.T) {
		ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.LastUsedInterval = time.Hour }))
		k, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		for range 20 {
			if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(ts.Demo.Program.PartnerID, secret), ""); r.Status != 200 {
				t.Fatal(r.Raw)
			}
		}
		if got := lastUsedAt(t, ts, ts.Demo.Program.ID, k.ID); got != nil {
			t.Fatalf("last_used_at written per request: %v", got)
		}
		ts.App.Close()
		if got := lastUsedAt(t, ts, ts.Demo.Program.ID, k.ID); got == nil {
			t.Fatal("Close did not flush last_used_at")
		}
	})
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withAPIConfig(func(c *config.API) { c.LastUsedInterval = 20 * time.Millisecond }))
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		_, idle := apiKey(t, ts, demo.ID, "Idle")
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		_, page := c.get("/general/api-keys")
		if strings.Count(page, "Never used") != 2 {
			t.Fatal("fresh keys should show Never used")
		}
		_ = idle
		before := time.Now().Add(-time.Second)
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != 200 {
			t.Fatal(r.Raw)
		}
		waitFor(t, 2*time.Second, "last_used_at flushed", func() bool {
			got := lastUsedAt(t, ts, demo.ID, k.ID)
			return got != nil && got.After(before)
		})
		_, page = c.get("/general/api-keys")
		if strings.Count(page, "Never used") != 1 || !strings.Contains(page, "Last used") {
			t.Fatal("the API Keys screen does not show the new last-used time")
		}
	})
}
