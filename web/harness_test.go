package web_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// testServer is the real router behind httptest, on a fresh database, with
// two seeded programs.
type testServer struct {
	*httptest.Server
	Store *modeltest.Stores
	App   *web.Server
	Demo  modeltest.Fixture
	Other modeltest.Fixture
	Logs  *syncBuffer
}

// syncBuffer collects the server's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// parseConfig is the configuration config.Parse reads from an environment
// holding only the master key and the given name, value pairs.
func parseConfig(pairs ...string) (config.Options, error) {
	env := map[string]string{"KEYDESK_MASTER_KEY": base64.StdEncoding.EncodeToString(modeltest.MasterKey)}
	for i := 0; i+1 < len(pairs); i += 2 {
		env[pairs[i]] = pairs[i+1]
	}
	return config.Parse(func(name string) string { return env[name] })
}

type serverOption func(*config.Options)

func withReauthWindow(d time.Duration) serverOption {
	return func(c *config.Options) { c.ReauthWindow = d }
}

func withAPIConfig(set func(*config.API)) serverOption {
	return func(c *config.Options) { set(&c.API) }
}

// withBaseURL sets KEYDESK_BASE_URL.
func withBaseURL(u string) serverOption {
	return func(c *config.Options) { c.BaseURL = u }
}

// withListenerBaseURL sets KEYDESK_BASE_URL to the test server's own
// address (c.Addr, where the harness listens), under host, such as
// "localhost" (passkeys refuse an IP address) or "127.0.0.1".
func withListenerBaseURL(host string) serverOption {
	return func(c *config.Options) {
		_, port, _ := net.SplitHostPort(c.Addr)
		c.BaseURL = "http://" + net.JoinHostPort(host, port)
	}
}

func newTestServer(t testing.TB, db modeltest.Database, opts ...serverOption) *testServer {
	t.Helper()
	// Listen first, so the configuration can name the server's address.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	cfg.Addr = listener.Addr().String()
	for _, o := range opts {
		o(&cfg)
	}
	// The stores as serve builds them: their outbox from the configuration.
	store := modeltest.NewStoresWith(t, db, web.OutboxOptions(cfg))
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := web.New(cfg, store.Stores, logger)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: listener, Config: &http.Server{Handler: srv.Echo}}
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		srv.Close()
	})
	return &testServer{
		Server: ts,
		Store:  store,
		App:    srv,
		Demo:   modeltest.Seed(t, store, "Demo Store"),
		Other:  modeltest.Seed(t, store, "Other Store"),
		Logs:   logs,
	}
}

// client is a browser-like HTTP client with its own cookie jar; it does not
// follow redirects, so tests see them.
type client struct {
	t    *testing.T
	ts   *testServer
	http *http.Client

	mu           sync.Mutex
	token        string // the CSRF token last read from a page
	tokenSession string // the session cookie it was read under
}

func (ts *testServer) newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, ts: ts, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with browser-like same-origin headers and returns the
// response with its body read.
func (c *client) do(method, path string, body url.Values, headers map[string]string) (*http.Response, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		r = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, c.ts.URL+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	return c.do(http.MethodGet, path, nil, nil)
}

// csrf returns the CSRF token the client's pages carry (the _csrf field
// of the sign-in form, or of the signed-in layout's forms), as a browser
// would read it: the token belongs to the session, so it is read again
// whenever the session cookie changed since the last look.
func (c *client) csrf() string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	session := cookieValue(c, c.ts, "keydesk_session")
	if c.token != "" && c.tokenSession == session {
		return c.token
	}
	c.token, c.tokenSession = c.pageCSRF(), session
	return c.token
}

// pageCSRF reads the CSRF token from the sign-in page or, when signed in,
// from the page that sends the admin to.
func (c *client) pageCSRF() string {
	c.t.Helper()
	resp, body := c.get("/login")
	if resp.StatusCode == http.StatusSeeOther {
		resp, body = c.get(resp.Header.Get("Location"))
	}
	doc := parseHTML(c.t, body)
	token, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value")
	if !ok || token == "" {
		c.t.Fatalf("no CSRF token on the page (status %d)", resp.StatusCode)
	}
	return token
}

// post sends a form with the CSRF token, as the page's own form would.
func (c *client) post(path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", c.csrf())
	return c.do(http.MethodPost, path, form, nil)
}

// htmx sends an htmx request with the CSRF header, as the page's htmx would.
func (c *client) htmx(method, path string, form url.Values) (*http.Response, string) {
	c.t.Helper()
	headers := map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()}
	if method == http.MethodGet {
		return c.do(method, path, nil, headers)
	}
	if form == nil {
		form = url.Values{}
	}
	return c.do(method, path, form, headers)
}

// login signs in and fails the test if it does not succeed.
func (c *client) login(email string) {
	c.t.Helper()
	resp, body := c.post("/login", url.Values{"email": {email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("sign-in as %s: status %d\n%s", email, resp.StatusCode, body)
	}
}

// loggedIn returns a fresh client signed in as email.
func (ts *testServer) loggedIn(t *testing.T, email string) *client {
	c := ts.newClient(t)
	c.login(email)
	return c
}

func parseHTML(t *testing.T, body string) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// auditActions lists a program's audit actions (action:outcome) in order.
func (ts *testServer) auditActions(t *testing.T, programID int64) []string {
	t.Helper()
	var events []audit.Event
	if err := ts.Store.DB.Where("program_id = ?", programID).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action + ":" + e.Outcome
	}
	return out
}
