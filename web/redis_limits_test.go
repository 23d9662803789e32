package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// withRedis shares per-key limits through Redis under a prefix of the
// test's own, so tests never spend each other's budgets.
func withRedis(url string, readPerMinute int) serverOption {
	prefix := modeltest.RedisPrefix()
	return withAPIConfig(func(c *config.API) {
		c.RedisURL = url
		c.RedisKeyPrefix = prefix
		c.ReadPerMinute = readPerMinute
	})
}

// deadRedisURL names a port nothing listens on: every Redis call fails
// at once.
func deadRedisURL() string {
	ln := httptest.NewServer(http.NotFoundHandler())
	defer ln.Close()
	return "redis://" + strings.TrimPrefix(ln.URL, "http://") + "/0"
}

// secondServer is another instance over the same database and config.
func secondServer(t *testing.T, ts *testServer, opts ...serverOption) *httptest.Server {
	t.Helper()
	cfg := config.Default(modeltest.MasterKey)
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := web.New(cfg, ts.Store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	return hs
}

func TestRedisBudgetSharedByTwoServers(t *testing.T) {
	url := modeltest.RedisURL(t)
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const budget = 10
		opt := withRedis(url, budget)
		a := newTestServer(t, db, opt)
		b := secondServer(t, a, opt)
		_, secret := apiKey(t, a, a.Demo.Program.ID, "Shop")
		headers := restHeaders(a.Demo.Program.PartnerID, secret)

		// 8 simultaneous calls to each instance: one budget of 10 between them.
		var mu sync.Mutex
		statuses := map[int]int{}
		var wg sync.WaitGroup
		for i := range 16 {
			base := a.URL
			if i%2 == 1 {
				base = b.URL
			}
			wg.Go(func() {
				r := apiCall(t, base, http.MethodGet, "/v2/loyalty/program", headers, "")
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			})
		}
		wg.Wait()
		if statuses[http.StatusOK] != budget || statuses[http.StatusTooManyRequests] != 16-budget {
			t.Fatalf("statuses %v, want %d OK and %d 429 across both instances", statuses, budget, 16-budget)
		}
		// Spent everywhere: the next call on either instance is refused.
		for _, base := range []string{a.URL, b.URL} {
			if r := apiCall(t, base, http.MethodGet, "/v2/loyalty/program", headers, ""); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s after the shared budget: %d %s", base, r.Status, r.Raw)
			}
		}
		if got := readyDetails(t, a.URL); got != "shared" {
			t.Errorf("/readyz rate_limits %q, want shared", got)
		}
	})
}

// With a budget large enough to be leased several units at a time, two
// servers answering hundreds of simultaneous calls for three keys still
// allow no more than each key's budget (plus what refills meanwhile), and
// lose little of it to leases left unspent.
func TestRedisLeasedBudgetSharedByTwoServers(t *testing.T) {
	url := modeltest.RedisURL(t)
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const budget, keys, callsPerKey = 600, 3, 800
		opt := withRedis(url, budget)
		a := newTestServer(t, db, opt)
		b := secondServer(t, a, opt)
		var headers [keys]map[string]string
		for k := range headers {
			_, secret := apiKey(t, a, a.Demo.Program.ID, fmt.Sprintf("Shop %d", k))
			headers[k] = restHeaders(a.Demo.Program.PartnerID, secret)
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		t.Cleanup(client.CloseIdleConnections)

		var ok, refused, other [keys]atomic.Int64
		var next atomic.Int64
		started := time.Now()
		var wg sync.WaitGroup
		for range 48 {
			wg.Go(func() {
				for {
					i := int(next.Add(1) - 1)
					if i >= keys*callsPerKey {
						return
					}
					base := a.URL
					if i%2 == 1 {
						base = b.URL
					}
					k := i % keys
					switch r := apiCallWith(t, client, base, http.MethodGet, "/v2/loyalty/program", headers[k], ""); r.Status {
					case http.StatusOK:
						ok[k].Add(1)
					case http.StatusTooManyRequests:
						refused[k].Add(1)
					default:
						other[k].Add(1)
					}
				}
			})
		}
		wg.Wait()
		// Each budget refills at 10 a second while the calls run.
		ceiling := budget + int64(math.Ceil(time.Since(started).Seconds()*budget/60))
		for k := range keys {
			got := ok[k].Load()
			t.Logf("key %d: %d OK, %d refused of %d calls (budget %d, at most %d with what refilled)", k, got, refused[k].Load(), callsPerKey, budget, ceiling)
			if other[k].Load() != 0 {
				t.Errorf("key %d: %d answers neither 200 nor 429", k, other[k].Load())
			}
			if got > ceiling {
				t.Errorf("key %d: %d OK across both servers, more than the budget (%d with what refilled)", k, got, ceiling)
			}
			if got < budget*98/100 {
				t.Errorf("key %d: %d OK of a budget of %d: more than 2%% lost to unspent leases", k, got, budget)
			}
		}
	})
}

// readyDetails is /readyz's details.rate_limits.
func readyDetails(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status  string            `json:"status"`
		Details map[string]string `json:"details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ready" {
		t.Errorf("/readyz: %d %q", resp.StatusCode, body.Status)
	}
	return body.Details["rate_limits"]
}

func TestRedisDownFallsBackToLocalLimits(t *testing.T) {
	deadURL := deadRedisURL()
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const budget = 5
		ts := newTestServer(t, db, withRedis(deadURL, budget), withMetrics())
		_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
		headers := restHeaders(ts.Demo.Program.PartnerID, secret)
		before := sample(t, scrape(t, ts), "keydesk_rate_limit_redis_fallbacks_total")
		counts := map[int]int{}
		for range budget + 3 {
			r := apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", headers, "")
			counts[r.Status]++
		}
		if counts[http.StatusOK] != budget || counts[http.StatusTooManyRequests] != 3 {
			t.Fatalf("statuses %v: want the per-instance budget of %d, then 429, never a 5xx", counts, budget)
		}
		if n := strings.Count(ts.Logs.String(), "Redis rate limits unavailable"); n != 1 {
			t.Errorf("the fallback was logged %d times, want once\n%s", n, ts.Logs.String())
		}
		body := scrape(t, ts)
		if got := sample(t, body, "keydesk_rate_limit_redis_fallbacks_total") - before; got < budget+3 {
			t.Errorf("fallbacks grew by %v, want at least %d", got, budget+3)
		}
		if got := readyDetails(t, ts.URL); got != "local (Redis unavailable)" {
			t.Errorf("/readyz rate_limits %q", got)
		}
	})
}
