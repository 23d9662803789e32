package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// quotaInstance is a second server over the same database (its own
// stores, caches and quota leases), with its application for Close.
func quotaInstance(t *testing.T, db modeltest.Database, opts ...serverOption) (*httptest.Server, *web.Server) {
	t.Helper()
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	for _, o := range opts {
		o(&cfg)
	}
	store := modeltest.NewStoresWith(t, db, web.OutboxOptions(cfg))
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Echo)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return hs, srv
}

// setLimits gives k a quota and rate limit through the console's store
// method.
func setLimits(t *testing.T, ts *testServer, k keys.APIKey, quota int64, period string, ratePerMinute int) {
	t.Helper()
	if _, err := ts.Store.Keys.Update(t.Context(), k.ProgramID, audit.Actor{}, k.ID, keys.KeyInput{Name: k.Name, Description: k.Description,
		Limits: &keys.LimitsInput{Quota: quota, QuotaPeriod: period, RateLimitPerMinute: ratePerMinute}}); err != nil {
		t.Fatal(err)
	}
}

// burst sends n simultaneous calls, alternating between the servers, and
// counts the answers by status and error code.
func burst(t *testing.T, urls []string, headers map[string]string, n int) map[string]int {
	t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := apiCall(t, urls[i%len(urls)], "GET", "/v2/loyalty/program", headers, "")
			var body struct {
				ErrorCode string `json:"error_code"`
			}
			_ = json.Unmarshal([]byte(r.Raw), &body)
			mu.Lock()
			got[strconv.Itoa(r.Status)+" "+body.ErrorCode]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	return got
}

// N simultaneous calls over two instances against a quota Q < N: exactly
// Q succeed, the rest are 429 QUOTA_EXCEEDED; and again after the leases
// grew with a first stretch of sequential calls.
func TestQuotaExactAcrossTwoInstances(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) { quotaExactAcrossTwoInstances(t, db) })
}

// The same with the ledger in Redis (KEYDESK_REDIS_URL).
func TestQuotaExactAcrossTwoInstancesWithRedis(t *testing.T) {
	url := modeltest.RedisURL(t)
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) { quotaExactAcrossTwoInstances(t, db, withRedis(url, 600)) })
}

func quotaExactAcrossTwoInstances(t *testing.T, db modeltest.Database, opts ...serverOption) {
	a := newTestServer(t, db, opts...)
	b, _ := quotaInstance(t, db, opts...)
	demo := a.Demo.Program
	k, secret := apiKey(t, a, demo.ID, "Shop")
	// The key's own rate limit lifts the default 600/min out of the way.
	setLimits(t, a, k, 25, keys.QuotaPeriodDay, 100000)
	h := restHeaders(demo.PartnerID, secret)
	got := burst(t, []string{a.URL, b.URL}, h, 60)
	if got["200 "] != 25 || got["429 QUOTA_EXCEEDED"] != 35 {
		t.Fatalf("60 calls against a quota of 25: %v", got)
	}
	// The ledger that counted: Redis when configured, else the database.
	var rows int64
	if err := a.Store.DB.Raw(`SELECT COUNT(*) FROM api_key_quota_use`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if inRedis := len(opts) > 0; inRedis != (rows == 0) {
		t.Fatalf("ledger rows in the database: %d (Redis configured: %v)", rows, inRedis)
	}

	k2, secret2 := apiKey(t, a, demo.ID, "Warehouse")
	setLimits(t, a, k2, 300, keys.QuotaPeriodMonth, 100000)
	h2 := restHeaders(demo.PartnerID, secret2)
	for i := range 40 { // leases grow with the pace of these
		if r := apiCall(t, []string{a.URL, b.URL}[i%2], "GET", "/v2/loyalty/program", h2, ""); r.Status != 200 {
			t.Fatalf("call %d: %d %s", i, r.Status, r.Raw)
		}
	}
	got = burst(t, []string{a.URL, b.URL}, h2, 400)
	if got["200 "] != 260 || got["429 QUOTA_EXCEEDED"] != 140 {
		t.Fatalf("400 calls against the 260 left of 300: %v", got)
	}

	// Demand moves to one instance while the other holds a lease: the
	// units it holds unspent come back and are spent there.
	k3, secret3 := apiKey(t, a, demo.ID, "Till")
	setLimits(t, a, k3, 300, keys.QuotaPeriodDay, 100000)
	h3 := restHeaders(demo.PartnerID, secret3)
	for i := range 40 {
		if r := apiCall(t, a.URL, "GET", "/v2/loyalty/program", h3, ""); r.Status != 200 {
			t.Fatalf("call %d: %d %s", i, r.Status, r.Raw)
		}
	}
	got = burst(t, []string{b.URL}, h3, 300)
	if got["200 "] != 260 || got["429 QUOTA_EXCEEDED"] != 40 {
		t.Fatalf("300 calls on the other instance against the 260 left of 300: %v", got)
	}
}

// quotaCall makes one call with the key's headers at path.
func quotaCall(t *testing.T, base, path string, h map[string]string) apiResponse {
	t.Helper()
	return apiCall(t, base, "GET", path, h, "")
}

// expectQuota checks an answer's status, error code and X-Quota-* headers.
func expectQuota(t *testing.T, what string, r apiResponse, status int, code string, limit, remaining int, reset string) {
	t.Helper()
	var body struct {
		ErrorCode string `json:"error_code"`
	}
	_ = json.Unmarshal([]byte(r.Raw), &body)
	if r.Status != status || body.ErrorCode != code {
		t.Fatalf("%s: %d %s, want %d %s", what, r.Status, r.Raw, status, code)
	}
	h := r.Header
	if h.Get("X-Quota-Limit") != strconv.Itoa(limit) || h.Get("X-Quota-Remaining") != strconv.Itoa(remaining) || h.Get("X-Quota-Reset") != reset {
		t.Fatalf("%s: X-Quota-Limit %q Remaining %q Reset %q, want %d %d %s", what,
			h.Get("X-Quota-Limit"), h.Get("X-Quota-Remaining"), h.Get("X-Quota-Reset"), limit, remaining, reset)
	}
}

// The headers on every answer of a key with a quota; a call that passes
// authentication, permissions and limits spends one unit whatever its
// answer (404 included); a refused call (403, 429) spends nothing; the
// quota is checked after the rate limit; a quota 429 carries Retry-After
// and counts as a failed call with reason quota_exceeded.
func TestQuotaHeadersAndWhatSpends(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		ts.Store.SetClock(func() time.Time { return now })
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Members only")
		if _, err := ts.Store.Keys.Update(t.Context(), demo.ID, audit.Actor{}, k.ID, keys.KeyInput{Name: k.Name,
			Access: &keys.AccessInput{Restricted: true, Permissions: []string{string(keys.PermMembersRead)}},
			Limits: &keys.LimitsInput{Quota: 3, QuotaPeriod: keys.QuotaPeriodDay}}); err != nil {
			t.Fatal(err)
		}
		h := restHeaders(demo.PartnerID, secret)
		reset := "2026-03-11T00:00:00Z"
		expectQuota(t, "403 outside the permissions", quotaCall(t, ts.URL, "/v2/loyalty/program", h), 403, "ERROR_FORBIDDEN", 3, 3, reset)
		expectQuota(t, "404 unknown member", quotaCall(t, ts.URL, "/v2/loyalty/members/nobody", h), 404, "ERROR_NOT_FOUND", 3, 2, reset)
		expectQuota(t, "200", quotaCall(t, ts.URL, "/v2/loyalty/members", h), 200, "", 3, 1, reset)
		expectQuota(t, "403 again", quotaCall(t, ts.URL, "/v2/loyalty/program", h), 403, "ERROR_FORBIDDEN", 3, 1, reset)
		expectQuota(t, "the last unit", quotaCall(t, ts.URL, "/v2/loyalty/members", h), 200, "", 3, 0, reset)
		r := quotaCall(t, ts.URL, "/v2/loyalty/members", h)
		expectQuota(t, "past the quota", r, 429, "QUOTA_EXCEEDED", 3, 0, reset)
		if got := r.Header.Get("Retry-After"); got != "43200" {
			t.Fatalf("Retry-After %q, want 43200 (until midnight UTC)", got)
		}

		// Rate limit 1 a minute (overriding the default 600 reads), quota 1:
		// the second call is over both and answers the rate limit.
		k2, secret2 := apiKey(t, ts, demo.ID, "Slow")
		setLimits(t, ts, k2, 1, keys.QuotaPeriodMonth, 1)
		h2 := restHeaders(demo.PartnerID, secret2)
		monthReset := "2026-04-01T00:00:00Z"
		expectQuota(t, "first call", quotaCall(t, ts.URL, "/v2/loyalty/program", h2), 200, "", 1, 0, monthReset)
		expectQuota(t, "over both", quotaCall(t, ts.URL, "/v2/loyalty/program", h2), 429, "RATE_LIMIT_EXCEEDED", 1, 0, monthReset)

		// Rate limit 2 a minute, quota 1: the second is refused for the
		// quota (the rate limit allowed it), the third for the rate.
		k3, secret3 := apiKey(t, ts, demo.ID, "Two a minute")
		setLimits(t, ts, k3, 1, keys.QuotaPeriodDay, 2)
		h3 := restHeaders(demo.PartnerID, secret3)
		expectQuota(t, "first call", quotaCall(t, ts.URL, "/v2/loyalty/program", h3), 200, "", 1, 0, reset)
		expectQuota(t, "second call", quotaCall(t, ts.URL, "/v2/loyalty/program", h3), 429, "QUOTA_EXCEEDED", 1, 0, reset)
		expectQuota(t, "third call", quotaCall(t, ts.URL, "/v2/loyalty/program", h3), 429, "RATE_LIMIT_EXCEEDED", 1, 0, reset)

		// A key without a quota carries no X-Quota-* headers.
		_, plain := apiKey(t, ts, demo.ID, "Plain")
		if r := quotaCall(t, ts.URL, "/v2/loyalty/program", restHeaders(demo.PartnerID, plain)); r.Status != 200 || r.Header.Get("X-Quota-Limit") != "" {
			t.Fatalf("key without a quota: %d, X-Quota-Limit %q", r.Status, r.Header.Get("X-Quota-Limit"))
		}

		// The usage view counts the quota refusal as failed, reason
		// quota_exceeded, and shows the day's use against the quota.
		if err := ts.App.FlushUsage(t.Context()); err != nil {
			t.Fatal(err)
		}
		var refused int64
		if err := ts.Store.DB.Raw(`SELECT COALESCE(SUM(count), 0) FROM key_usage WHERE key_id = ? AND outcome = 'quota_exceeded' AND resolution = 'minute'`, k3.ID).Scan(&refused).Error; err != nil {
			t.Fatal(err)
		}
		if refused != 1 {
			t.Fatalf("quota_exceeded counted %d times for the key, want 1", refused)
		}
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		_, page := c.get("/general/api-keys/" + strconv.FormatInt(k.ID, 10) + "/usage")
		if !strings.Contains(page, "3 of 3 requests today") {
			t.Fatalf("usage view without “3 of 3 requests today”:\n%s", page)
		}
		_, page = c.get("/general/api-keys/" + strconv.FormatInt(k2.ID, 10) + "/usage")
		if !strings.Contains(page, "1 of 1 requests this month") {
			t.Fatal("usage view without “1 of 1 requests this month”")
		}
	})
}

// A day's quota starts again at midnight UTC, a month's on the first of
// the month, with the clock moved across.
func TestQuotaPeriodRollOver(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		var mu sync.Mutex
		now := time.Date(2026, 4, 30, 23, 59, 0, 0, time.UTC)
		ts.Store.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
		move := func(to time.Time) { mu.Lock(); now = to; mu.Unlock() }
		demo := ts.Demo.Program
		day, daySecret := apiKey(t, ts, demo.ID, "Daily")
		setLimits(t, ts, day, 2, keys.QuotaPeriodDay, 0)
		month, monthSecret := apiKey(t, ts, demo.ID, "Monthly")
		setLimits(t, ts, month, 2, keys.QuotaPeriodMonth, 0)
		hd, hm := restHeaders(demo.PartnerID, daySecret), restHeaders(demo.PartnerID, monthSecret)
		for _, h := range []map[string]string{hd, hm} {
			expectQuota(t, "first", quotaCall(t, ts.URL, "/v2/loyalty/program", h), 200, "", 2, 1, "2026-05-01T00:00:00Z")
			expectQuota(t, "second", quotaCall(t, ts.URL, "/v2/loyalty/program", h), 200, "", 2, 0, "2026-05-01T00:00:00Z")
			r := quotaCall(t, ts.URL, "/v2/loyalty/program", h)
			expectQuota(t, "third", r, 429, "QUOTA_EXCEEDED", 2, 0, "2026-05-01T00:00:00Z")
			if r.Header.Get("Retry-After") != "60" {
				t.Fatalf("Retry-After %q, want 60", r.Header.Get("Retry-After"))
			}
		}
		// Midnight UTC, the first of May: both start again.
		move(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
		expectQuota(t, "next day", quotaCall(t, ts.URL, "/v2/loyalty/program", hd), 200, "", 2, 1, "2026-05-02T00:00:00Z")
		expectQuota(t, "next month", quotaCall(t, ts.URL, "/v2/loyalty/program", hm), 200, "", 2, 1, "2026-06-01T00:00:00Z")
		expectQuota(t, "next month", quotaCall(t, ts.URL, "/v2/loyalty/program", hm), 200, "", 2, 0, "2026-06-01T00:00:00Z")
		// The next midnight renews the day, not the month.
		move(time.Date(2026, 5, 2, 0, 0, 1, 0, time.UTC))
		expectQuota(t, "day 2", quotaCall(t, ts.URL, "/v2/loyalty/program", hd), 200, "", 2, 1, "2026-05-03T00:00:00Z")
		expectQuota(t, "month, day 2", quotaCall(t, ts.URL, "/v2/loyalty/program", hm), 429, "QUOTA_EXCEEDED", 2, 0, "2026-06-01T00:00:00Z")
	})
}

// The 80 % and 100 % alerts of a period are emitted once each, however
// many calls on how many instances cross them at once: webhook
// api_key.quota_threshold with percent and period_start, audited, and
// mailed once per threshold to each full-access admin.
func TestQuotaAlertsOnceAcrossInstances(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		_, smtpAddr := startMailSink(t)
		mail := func(cfg *config.Options) {
			cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://"+smtpAddr, "keydesk@example.test", "https://keydesk.example.test"
		}
		a := newTestServer(t, db, mail)
		b, bApp := quotaInstance(t, db, mail)
		demo := a.Demo.Program
		k, secret := apiKey(t, a, demo.ID, "Shop")
		setLimits(t, a, k, 10, keys.QuotaPeriodDay, 100000)
		got := burst(t, []string{a.URL, b.URL}, restHeaders(demo.PartnerID, secret), 40)
		if got["200 "] != 10 {
			t.Fatalf("40 calls against a quota of 10: %v", got)
		}
		// Closing both instances waits for the alerts they were emitting.
		a.App.Close()
		bApp.Close()

		// Every instance racing to emit the same alerts adds nothing.
		period, start, _ := keys.QuotaPeriodAt(keys.QuotaPeriodDay, time.Now())
		var wg sync.WaitGroup
		for range 8 {
			for _, p := range keys.QuotaAlertPercents {
				wg.Go(func() {
					if emitted, err := a.Store.Keys.EmitQuotaAlert(t.Context(), k.ID, period, start, p); err != nil || emitted {
						t.Errorf("alert %d emitted again (%v, %v)", p, emitted, err)
					}
				})
			}
		}
		wg.Wait()

		var payloads []string
		if err := a.Store.DB.Raw(`SELECT payload FROM outbox_events WHERE event_type = 'api_key.quota_threshold' ORDER BY id`).Scan(&payloads).Error; err != nil {
			t.Fatal(err)
		}
		var percents []int
		for _, p := range payloads {
			var ev struct {
				Data struct {
					Percent     int    `json:"percent"`
					PeriodStart string `json:"period_start"`
					APIKey      struct {
						Identifier string `json:"identifier"`
					} `json:"api_key"`
				} `json:"data"`
			}
			if err := json.Unmarshal([]byte(p), &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Data.PeriodStart != start.Format(time.RFC3339) || ev.Data.APIKey.Identifier != k.Identifier {
				t.Fatalf("alert payload %s", p)
			}
			percents = append(percents, ev.Data.Percent)
		}
		if len(percents) != 2 || percents[0]+percents[1] != 180 || percents[0] == percents[1] {
			t.Fatalf("alerts %v, want 80 and 100 once each", percents)
		}
		var audited int64
		if err := a.Store.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE action = 'api_key.quota_threshold' AND target_id = ?`, k.Identifier).Scan(&audited).Error; err != nil {
			t.Fatal(err)
		}
		if audited != 2 {
			t.Fatalf("%d audit events, want 2", audited)
		}

		// Mail (on in both instances): one per threshold to each
		// full-access admin; events the instances had not dispatched yet
		// are dispatched here.
		if _, err := a.Store.Outbox.Dispatch(t.Context(), 100); err != nil {
			t.Fatal(err)
		}
		var mails []string
		if err := a.Store.DB.Raw(`SELECT recipient FROM mail_deliveries WHERE event_type = 'api_key.quota_threshold' ORDER BY id`).Scan(&mails).Error; err != nil {
			t.Fatal(err)
		}
		if len(mails) != 2 || mails[0] != a.Demo.Full.Email || mails[1] != a.Demo.Full.Email {
			t.Fatalf("mails to %v, want two to %s", mails, a.Demo.Full.Email)
		}
	})
}

// The Edit dialog sets Quota, Quota period and Rate limit: bad input is
// refused with a clear message and changes nothing; a change is audited
// as api_key.updated with before/after, and the dialog shows it again.
func TestEditDialogQuotaAndRateLimit(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		k, _ := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		path := "/general/api-keys/" + strconv.FormatInt(k.ID, 10) + "/edit"
		countUpdates := func() int64 {
			var n int64
			if err := ts.Store.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE action = 'api_key.updated' AND target_id = ?`, k.Identifier).Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, bad := range []struct{ quota, period, rate, message string }{
			{"ten", "day", "", "Quota must be a whole number"},
			{"0", "day", "", "Quota must be a whole number"},
			{"-5", "month", "", "Quota must be a whole number"},
			{"100", "week", "", "Choose the quota period: Day or Month."},
			{"", "", "1.5", "Rate limit must be a whole number"},
			{"", "", "99999999", "Rate limit must be a whole number"},
		} {
			resp, body := c.htmx(http.MethodPost, path, url.Values{"name": {"Shop"}, "quota": {bad.quota}, "quota_period": {bad.period}, "rate_limit": {bad.rate}})
			if resp.StatusCode != 200 || !strings.Contains(body, bad.message) || !strings.Contains(body, `aria-invalid="true"`) {
				t.Fatalf("quota %q period %q rate %q: %d, want the message %q\n%s", bad.quota, bad.period, bad.rate, resp.StatusCode, bad.message, body)
			}
		}
		if got, _ := ts.Store.Keys.ByID(t.Context(), k.ProgramID, k.ID); got.Quota != 0 || got.QuotaPeriod != "" || got.RateLimitPerMinute != 0 || countUpdates() != 0 {
			t.Fatalf("bad input changed the key: %+v, %d audit events", got, countUpdates())
		}

		resp, body := c.htmx(http.MethodPost, path, url.Values{"name": {"Shop"}, "quota": {" 5000 "}, "quota_period": {"month"}, "rate_limit": {"90"}})
		if resp.StatusCode != 200 || !strings.Contains(body, `id="keys-panel"`) {
			t.Fatalf("save: %d\n%s", resp.StatusCode, body)
		}
		got, _ := ts.Store.Keys.ByID(t.Context(), k.ProgramID, k.ID)
		if got.Quota != 5000 || got.QuotaPeriod != "month" || got.RateLimitPerMinute != 90 {
			t.Fatalf("saved %+v", got)
		}
		var details string
		if err := ts.Store.DB.Raw(`SELECT details FROM audit_events WHERE action = 'api_key.updated' AND target_id = ? ORDER BY id DESC LIMIT 1`, k.Identifier).Scan(&details).Error; err != nil {
			t.Fatal(err)
		}
		var d struct {
			Before, After map[string]any
		}
		if err := json.Unmarshal([]byte(details), &d); err != nil {
			t.Fatal(err)
		}
		if d.Before["quota"] != float64(0) || d.Before["rate_limit_per_minute"] != float64(0) ||
			d.After["quota"] != float64(5000) || d.After["quota_period"] != "month" || d.After["rate_limit_per_minute"] != float64(90) {
			t.Fatalf("audit details %s", details)
		}
		if countUpdates() != 1 {
			t.Fatalf("%d audit events for one save", countUpdates())
		}
		_, body = c.htmx(http.MethodGet, path, nil)
		if !strings.Contains(body, `value="5000"`) || !strings.Contains(body, `value="90"`) || !strings.Contains(body, `<option value="month" selected`) {
			t.Fatalf("the dialog does not show the saved limits:\n%s", body)
		}
		// Saving the same again changes nothing; emptying the fields removes
		// quota and override.
		if resp, _ := c.htmx(http.MethodPost, path, url.Values{"name": {"Shop"}, "quota": {"5000"}, "quota_period": {"month"}, "rate_limit": {"90"}}); !strings.Contains(fmt.Sprint(resp.Header), "No changes to save.") || countUpdates() != 1 {
			t.Fatalf("saving the same limits again: %v, %d audit events", resp.Header, countUpdates())
		}
		c.htmx(http.MethodPost, path, url.Values{"name": {"Shop"}, "quota": {""}, "quota_period": {"month"}, "rate_limit": {""}})
		if got, _ := ts.Store.Keys.ByID(t.Context(), k.ProgramID, k.ID); got.Quota != 0 || got.QuotaPeriod != "" || got.RateLimitPerMinute != 0 || countUpdates() != 2 {
			t.Fatalf("emptied: %+v, %d audit events", got, countUpdates())
		}
	})
}

// With Redis down the quota falls back as the rate limits do: logged once,
// shown by /readyz, and the instance spends at most its reservation (here,
// never having heard from Redis, one unit) before refusing: the quota is
// never exceeded by more than what each instance reserved.
func TestQuotaWithRedisDown(t *testing.T) {
	deadURL := deadRedisURL()
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withRedis(deadURL, 600))
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		setLimits(t, ts, k, 10, keys.QuotaPeriodDay, 0)
		h := restHeaders(demo.PartnerID, secret)
		got := map[int]int{}
		for range 5 {
			got[quotaCall(t, ts.URL, "/v2/loyalty/program", h).Status]++
		}
		if got[200] != 1 || got[429] != 4 {
			t.Fatalf("statuses %v with Redis down: want the one unit reserved, then 429", got)
		}
		if n := strings.Count(ts.Logs.String(), "Redis quotas unavailable"); n != 1 {
			t.Errorf("the fallback was logged %d times, want once", n)
		}
		resp, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Details map[string]string `json:"details"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if body.Details["quotas"] != "local allowance (Redis unavailable)" {
			t.Errorf("/readyz quotas %q", body.Details["quotas"])
		}
	})
}

// The server's housekeeping deletes quota ledger rows of ended periods
// and keeps the current period's count.
func TestHousekeepingPurgesEndedQuotaPeriods(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	for _, p := range []string{"day:2020-01-01", "month:2020-01"} {
		if _, err := ts.Store.Keys.RenewQuotaLease(t.Context(), 1, p, 10, 0, 0, 1); err != nil {
			t.Fatal(err)
		}
	}
	today, _, _ := keys.QuotaPeriodAt(keys.QuotaPeriodDay, time.Now())
	if _, err := ts.Store.Keys.RenewQuotaLease(t.Context(), 1, today, 10, 0, 0, 1); err != nil {
		t.Fatal(err)
	}
	ts.App.Housekeep(t.Context())
	var left []string
	if err := ts.Store.DB.Raw(`SELECT period FROM api_key_quota_use ORDER BY period`).Scan(&left).Error; err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0] != today {
		t.Fatalf("after housekeeping: %v, want only %s", left, today)
	}
}

// With Redis quotas, housekeeping also drops what the instance keeps of
// ended periods (its last lease and outage allowance per key and period).
func TestHousekeepingForgetsEndedRedisQuotaPeriods(t *testing.T) {
	deadURL := deadRedisURL()
	ts := newTestServer(t, modeltest.SQLite(t), withRedis(deadURL, 600))
	ledger := ts.App.RedisQuotaLedger()
	if ledger == nil {
		t.Fatal("no Redis quota ledger with KEYDESK_REDIS_URL set")
	}
	// Redis is down: the renewal takes the outage path, which records the
	// key's period all the same.
	if _, err := ledger.RenewQuotaLease(t.Context(), 1, "day:2020-01-01", 10, 0, 0, 1); err != nil {
		t.Fatal(err)
	}
	ts.App.Housekeep(t.Context())
	if left := ledger.ForgetEndedPeriods(); left != 0 {
		t.Fatalf("housekeeping left %d entries of ended periods", left)
	}
}

// An edit posted without the access or limit fields (a script posting the
// name only) renames the key and leaves its restriction, address allowlist,
// quota and rate limit as they are: it never widens access or removes a
// quota by leaving fields out.
func TestEditWithoutAccessOrLimitFieldsKeepsThem(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		k, _ := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		restrict(t, ts, ts.Demo.Program.ID, k, []string{string(keys.PermMembersRead)}, "203.0.113.7")
		setLimits(t, ts, k, 500, keys.QuotaPeriodMonth, 90)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, body := c.htmx(http.MethodPost, "/general/api-keys/"+strconv.FormatInt(k.ID, 10)+"/edit", url.Values{"name": {"Shop renamed"}})
		if resp.StatusCode != 200 || !strings.Contains(body, `id="keys-panel"`) {
			t.Fatalf("save: %d\n%s", resp.StatusCode, body)
		}
		got, err := ts.Store.Keys.ByID(t.Context(), k.ProgramID, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "Shop renamed" {
			t.Errorf("name %q, want the new one", got.Name)
		}
		if !got.Restricted || got.Permissions != string(keys.PermMembersRead) || got.AllowedIPs != "203.0.113.7" {
			t.Errorf("access changed: restricted %v, permissions %q, allowed %q", got.Restricted, got.Permissions, got.AllowedIPs)
		}
		if got.Quota != 500 || got.QuotaPeriod != keys.QuotaPeriodMonth || got.RateLimitPerMinute != 90 {
			t.Errorf("limits changed: quota %d per %q, rate %d", got.Quota, got.QuotaPeriod, got.RateLimitPerMinute)
		}
	})
}
