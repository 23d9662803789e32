package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

func withMetrics() serverOption {
	return func(c *config.Options) { c.MetricsAddr = "127.0.0.1:0" }
}

// scrape reads the metrics listener's /metrics.
func scrape(t *testing.T, ts *testServer) string {
	t.Helper()
	addr := ts.App.MetricsAddr()
	if addr == "" {
		t.Fatal("no metrics listener")
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d\n%s", resp.StatusCode, b)
	}
	return string(b)
}

// sample is the value of one series in a scrape (0 when absent).
func sample(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return 0
}

func TestMetricsScrapeNamesAndLabels(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withMetrics())
		demo := ts.Demo.Program
		_, secret := apiKey(t, ts, demo.ID, "Shop")
		old, oldSecret := apiKey(t, ts, demo.ID, "Old")
		if _, err := ts.Store.Keys.SetActive(t.Context(), demo.ID, audit.Actor{}, old.ID, false); err != nil {
			t.Fatal(err)
		}
		before := scrape(t, ts)
		for range 3 {
			if r := apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != http.StatusOK {
				t.Fatalf("valid call: %d %s", r.Status, r.Raw)
			}
		}
		apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(demo.PartnerID, oldSecret), "")
		apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(demo.PartnerID, "kd_nonsense"), "")
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		c.get("/general/api-keys")
		ts.newClient(t).post("/login", map[string][]string{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}})
		if err := ts.App.FlushUsage(t.Context()); err != nil {
			t.Fatal(err)
		}

		body := scrape(t, ts)
		// Counters are process-wide: other tests' servers may add to
		// them, never take away, so the deltas are at least ours.
		for series, want := range map[string]float64{
			`keydesk_key_verifications_total{outcome="valid"}`:    3,
			`keydesk_key_verifications_total{outcome="inactive"}`: 1,
			`keydesk_key_verifications_total{outcome="invalid"}`:  1,
			`keydesk_signin_failures_total{factor="password"}`:    1,
		} {
			if got := sample(t, body, series) - sample(t, before, series); got < want {
				t.Errorf("%s grew by %v, want at least %v", series, got, want)
			}
		}
		for _, name := range []string{
			`keydesk_http_request_duration_seconds_bucket{method="GET",route="/v2/loyalty/program",status="2xx",le="0.005"}`,
			`keydesk_http_request_duration_seconds_count{method="GET",route="/general/api-keys",status="2xx"}`,
			`keydesk_key_cache_lookups_total{result="miss"}`,
			`keydesk_key_cache_entries{kind="positive"}`,
			`keydesk_audit_appends_total{action="api_key.generated"}`,
			`keydesk_rate_limit_backend{backend="local"}`,
			`go_sql_open_connections{db_name="keydesk"}`,
			`go_goroutines`,
			`keydesk_usage_flushes_total`,
		} {
			if !strings.Contains(body, name) {
				t.Errorf("scrape lacks %s", name)
			}
		}
		// No label value holds a key, an identifier, a partner ID or an
		// email.
		labels := regexp.MustCompile(`="([^"]*)"`).FindAllStringSubmatch(body, -1)
		forbidden := []string{secret, oldSecret, old.Identifier, demo.PartnerID, ts.Demo.Full.Email, "@"}
		for _, l := range labels {
			for _, f := range forbidden {
				if strings.Contains(l[1], f) {
					t.Errorf("label value %q holds %q", l[1], f)
				}
			}
		}
		if strings.Contains(body, `route="/general/api-keys/`+strconv.FormatInt(old.ID, 10)) {
			t.Error("a route label holds a path with an id")
		}
	})
}

func TestMetricsAbsentFromPublicPort(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withMetrics())
	for _, path := range []string{"/metrics", "/metrics/", "/v2/metrics"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || strings.Contains(string(b), "keydesk_") {
			t.Errorf("public %s: status %d, want 404 without metrics", path, resp.StatusCode)
		}
	}
	// Without KEYDESK_METRICS_ADDR there is no listener at all.
	plain := newTestServer(t, modeltest.SQLite(t))
	if addr := plain.App.MetricsAddr(); addr != "" {
		t.Errorf("metrics listener at %s without KEYDESK_METRICS_ADDR", addr)
	}
}
