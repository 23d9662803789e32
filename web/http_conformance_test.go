package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keydesk/models/modeltest"
)

// serveDirect runs one request through the server's router into a
// recorder, which (unlike net/http's server) keeps whatever body a HEAD
// handler writes, so a test sees it.
func serveDirect(ts *testServer, method, path string, headers map[string]string, cookies []*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	ts.App.Echo.ServeHTTP(rec, req)
	return rec
}

// HEAD answers every GET route as GET does, without a body: monitors
// probe with HEAD (RFC 9110 requires it wherever GET is served).
func TestHeadAnswersAsGetWithoutABody(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Monitor")
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	u, _ := url.Parse(ts.URL)
	session := admin.http.Jar.Cookies(u)

	for _, tc := range []struct {
		path    string
		headers map[string]string
		cookies []*http.Cookie
		status  int
	}{
		{"/healthz", nil, nil, http.StatusOK},
		{"/login", nil, nil, http.StatusOK},
		{"/v2/openapi.yaml", nil, nil, http.StatusOK},
		{"/static/js/app.js", nil, nil, http.StatusOK},
		{"/v2/loyalty/program", restHeaders(ts.Demo.Program.PartnerID, secret), nil, http.StatusOK},
		{"/general/api-keys", nil, session, http.StatusOK},
		{"/general/api-keys", nil, nil, http.StatusSeeOther},                                         // signed out: to the sign-in page
		{"/v2/loyalty/program", nil, nil, http.StatusUnauthorized},                                   // an error answers as GET too
		{"/general/no-such-page", nil, session, http.StatusNotFound},                                 // the router's 404
		{"/v2/loyalty/members/not-a-number", restHeaders(ts.Demo.Program.PartnerID, secret), nil, 0}, // whatever GET says
	} {
		get := serveDirect(ts, http.MethodGet, tc.path, tc.headers, tc.cookies)
		head := serveDirect(ts, http.MethodHead, tc.path, tc.headers, tc.cookies)
		if tc.status != 0 && get.Code != tc.status {
			t.Fatalf("GET %s: %d, want %d\n%s", tc.path, get.Code, tc.status, get.Body)
		}
		if head.Code != get.Code {
			t.Errorf("HEAD %s: %d, GET %d", tc.path, head.Code, get.Code)
		}
		if head.Body.Len() != 0 {
			t.Errorf("HEAD %s wrote a body of %d bytes", tc.path, head.Body.Len())
		}
		for _, h := range []string{"Content-Type", "Location", "Cache-Control", "Content-Security-Policy"} {
			if head.Header().Get(h) != get.Header().Get(h) {
				t.Errorf("HEAD %s: %s %q, GET %q", tc.path, h, head.Header().Get(h), get.Header().Get(h))
			}
		}
		if get.Body.Len() > 0 && head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s: Content-Length %q, GET's body is %d bytes", tc.path, head.Header().Get("Content-Length"), get.Body.Len())
		}
	}

	// Over the network too, as a monitor sees it.
	resp, err := http.Head(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD /healthz over the network: %d", resp.StatusCode)
	}
}

// HEAD on a path served only by POST is 405 with the methods it takes;
// a GET path's Allow names HEAD.
func TestHeadOnAPostOnlyRouteIsMethodNotAllowed(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	rec := serveDirect(ts, http.MethodHead, "/logout", nil, nil)
	if rec.Code != http.StatusMethodNotAllowed || rec.Body.Len() != 0 {
		t.Fatalf("HEAD /logout: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	allow := rec.Header().Get("Allow")
	if !strings.Contains(allow, "POST") || strings.Contains(allow, "GET") || strings.Contains(allow, "HEAD") {
		t.Fatalf("HEAD /logout: Allow %q", allow)
	}
	rec = serveDirect(ts, http.MethodDelete, "/healthz", nil, nil)
	if allow := rec.Header().Get("Allow"); rec.Code != http.StatusMethodNotAllowed || !strings.Contains(allow, "HEAD") || !strings.Contains(allow, "GET") {
		t.Fatalf("DELETE /healthz: %d, Allow %q", rec.Code, allow)
	}
}

// Every GET route has its HEAD twin and every HEAD route its GET: a route
// registered around routeSet.GET (e.GET) would lose HEAD.
func TestEveryGetRouteAnswersHead(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	routes := map[string]bool{}
	for _, r := range ts.App.Echo.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	gets := 0
	for _, r := range ts.App.Echo.Routes() {
		switch r.Method {
		case http.MethodGet:
			gets++
			if !routes["HEAD "+r.Path] {
				t.Errorf("GET %s has no HEAD", r.Path)
			}
		case http.MethodHead:
			if !routes["GET "+r.Path] {
				t.Errorf("HEAD %s has no GET", r.Path)
			}
		}
	}
	if gets < 20 {
		t.Fatalf("only %d GET routes", gets)
	}
}

// A made-up method is recorded as method="other": a client cannot add
// series by inventing methods, nor routes by inventing paths.
func TestMetricsLabelsStayBounded(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withMetrics())
	invented := "XYZ" + strconv.FormatInt(time.Now().UnixNano()%100000, 10)
	unknownPath := "/nope-" + invented
	for _, path := range []string{"/healthz", "/login", "/v2/loyalty/program", unknownPath} {
		req, err := http.NewRequest(invented, ts.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s %s: %d", invented, path, resp.StatusCode)
		}
	}
	anonymous := ts.newClient(t)
	for _, path := range []string{unknownPath, "/general/api-keys/1/" + invented, "/general/" + invented, "/v2/loyalty/" + invented,
		"/v2/loyalty/members/1/" + invented, "/account/" + invented, "/static/" + invented} {
		anonymous.get(path)
	}
	body := scrape(t, ts)
	if strings.Contains(body, invented) {
		t.Fatalf("the scrape holds the invented method or path %q", invented)
	}
	for _, series := range []string{
		`keydesk_http_request_duration_seconds_count{method="other",route="/healthz",status="4xx"}`,
		`keydesk_http_request_duration_seconds_count{method="other",route="/v2/loyalty/program",status="4xx"}`,
		`keydesk_http_request_duration_seconds_count{method="other",route="unmatched",status="4xx"}`,
		`keydesk_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"}`,
	} {
		if sample(t, body, series) < 1 {
			t.Errorf("scrape lacks %s", series)
		}
	}
	// Every route label is a registered route's template or "unmatched".
	routes := map[string]bool{"unmatched": true}
	for _, r := range ts.App.Echo.Routes() {
		routes[r.Path] = true
	}
	standard := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "other"}
	for line := range strings.SplitSeq(body, "\n") {
		if !strings.HasPrefix(line, "keydesk_http_request_duration_seconds_count{") {
			continue
		}
		_, rest, _ := strings.Cut(line, `method="`)
		method, _, _ := strings.Cut(rest, `"`)
		if !slices.Contains(standard, method) {
			t.Errorf("method label %q: %s", method, line)
		}
		_, rest, _ = strings.Cut(line, `route="`)
		if route, _, _ := strings.Cut(rest, `"`); !routes[route] {
			t.Errorf("route label %q is no route: %s", route, line)
		}
	}
}

// A wrong second-factor code during sign-in is a sign-in failure, counted
// by factor.
func TestSignInFailuresCountWrongCodes(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withMetrics())
	base := time.Now().Truncate(30 * time.Second)
	ts.Store.SetClock(func() time.Time { return base })
	full := ts.loggedIn(t, ts.Demo.Full.Email)
	secret, _ := setUpTOTP(t, ts, full, base)
	right, _ := totp.GenerateCode(secret, base.Add(30*time.Second))
	wrong := "000000"
	if wrong == right {
		wrong = "111111"
	}

	before := scrape(t, ts)
	if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, wrong); status != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", status)
	}
	ts.newClient(t).post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {"not the password"}})
	after := scrape(t, ts)
	// Counters are process-wide: other tests may add to them, never take
	// away, so the deltas are at least ours.
	for series, want := range map[string]float64{
		`keydesk_signin_failures_total{factor="code"}`:     1,
		`keydesk_signin_failures_total{factor="password"}`: 1,
	} {
		if got := sample(t, after, series) - sample(t, before, series); got < want {
			t.Errorf("%s grew by %v, want at least %v", series, got, want)
		}
	}
}

// The static assets and the OpenAPI document are gzipped for a client that
// asks; pages and API answers, which may hold a secret beside text an
// attacker chooses, never are (BREACH).
func TestGzipOnlyForPublicBodies(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	_, secret := apiKey(t, ts, ts.Demo.Program.ID, "Shop")
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	gzipHeader := map[string]string{"Accept-Encoding": "gzip"}

	for _, path := range []string{"/static/css/app.css", "/static/js/app.js", "/v2/openapi.yaml"} {
		_, plain := admin.get(path)
		resp, body := admin.do(http.MethodGet, path, nil, gzipHeader)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("%s: %d, Content-Encoding %q", path, resp.StatusCode, resp.Header.Get("Content-Encoding"))
			continue
		}
		if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Accept-Encoding") {
			t.Errorf("%s: Vary %q", path, resp.Header.Values("Vary"))
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || string(unzipped) != plain || len(body) >= len(plain) {
			t.Errorf("%s: %d compressed bytes unzip to %d (%v), want the %d plain bytes", path, len(body), len(unzipped), err, len(plain))
		}
	}

	// HEAD with Accept-Encoding: gzip has GET's headers, Content-Length
	// the compressed length, and no body.
	for _, path := range []string{"/static/css/app.css", "/v2/openapi.yaml"} {
		get := serveDirect(ts, http.MethodGet, path, gzipHeader, nil)
		head := serveDirect(ts, http.MethodHead, path, gzipHeader, nil)
		if head.Code != http.StatusOK || head.Body.Len() != 0 || head.Header().Get("Content-Encoding") != "gzip" ||
			head.Header().Get("Content-Length") != strconv.Itoa(get.Body.Len()) {
			t.Errorf("HEAD %s with gzip: %d, %d bytes, Content-Encoding %q, Content-Length %q (GET sent %d bytes)", path,
				head.Code, head.Body.Len(), head.Header().Get("Content-Encoding"), head.Header().Get("Content-Length"), get.Body.Len())
		}
	}

	// Without Accept-Encoding: as before.
	if resp, _ := admin.get("/static/css/app.css"); resp.Header.Get("Content-Encoding") != "" {
		t.Errorf("app.css without Accept-Encoding: Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}

	apiHeaders := restHeaders(ts.Demo.Program.PartnerID, secret)
	apiHeaders["Accept-Encoding"] = "gzip"
	for _, tc := range []struct {
		who     *client
		path    string
		headers map[string]string
	}{
		{admin, "/general/api-keys", gzipHeader},
		{admin, "/general/settings", gzipHeader},
		{ts.newClient(t), "/login", gzipHeader},
		{ts.newClient(t), "/v2/loyalty/program", apiHeaders},
		{ts.newClient(t), "/v2/loyalty/members", apiHeaders},
	} {
		resp, body := tc.who.do(http.MethodGet, tc.path, nil, tc.headers)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", tc.path, resp.StatusCode)
		}
		if enc := resp.Header.Get("Content-Encoding"); enc != "" || bytes.HasPrefix([]byte(body), []byte{0x1f, 0x8b}) {
			t.Errorf("%s was compressed (Content-Encoding %q)", tc.path, enc)
		}
	}
}
