package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

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
	store := modeltest.NewStores(t, db)
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	for _, o := range opts {
		o(&cfg)
	}
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
