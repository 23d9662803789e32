package web_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/PuerkitoBio/goquery"

	"keydesk/models/modeltest"
)

// snapshot is what hostile input must leave alone.
type snapshot struct{ keys, events, sessions int64 }

func takeSnapshot(t *testing.T, ts *testServer) snapshot {
	t.Helper()
	var s snapshot
	db := ts.Store.DB
	for table, dst := range map[string]*int64{"api_keys": &s.keys, "audit_events": &s.events, "sessions": &s.sessions} {
		if err := db.Raw("SELECT COUNT(*) FROM " + table).Scan(dst).Error; err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestHostileKeyNamesAreRefusedAndChangeNothing(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		admin := ts.loggedIn(t, ts.Demo.Full.Email)
		if resp, _ := generate(t, admin, "Target"); resp.StatusCode != http.StatusOK {
			t.Fatal("setup generate failed")
		}
		target := keyByName(t, ts, ts.Demo.Program.ID, "Target")
		long := strings.Repeat("a", 10_000)
		cases := []struct {
			label, name, description, field string
		}{
			{"invalid UTF-8", "bad \xff\xfe name", "", "name"},
			{"invalid UTF-8 description", "ok", "bad \xc3\x28", "description"},
			{"NUL", "a\x00b", "", "name"},
			{"escape", "a\x1b[31mred", "", "name"},
			{"DEL", "a\x7fb", "", "name"},
			{"C1 control", "a\u0085b", "", "name"},
			{"right-to-left override", "invoice\u202egpj.exe", "", "name"},
			{"left-to-right isolate", "a\u2066b\u2069", "", "name"},
			{"zero-width space", "admin\u200b", "", "name"},
			{"byte-order mark", "\ufeffkey", "", "name"},
			{"newline", "two\nlines", "", "name"},
			{"10k name", long, "", "name"},
			{"10k description", "ok", long, "description"},
			{"only spaces", "   \t ", "", "name"},
			{"bidi in description", "ok", "x\u202ey", "description"},
		}
		before := takeSnapshot(t, ts)
		for _, tc := range cases {
			for _, path := range []string{"/general/api-keys", fmt.Sprintf("/general/api-keys/%d/edit", target.ID)} {
				resp, body := admin.htmx(http.MethodPost, path, url.Values{"name": {tc.name}, "description": {tc.description}})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s at %s: status %d", tc.label, path, resp.StatusCode)
				}
				doc := parseHTML(t, body)
				msg := strings.TrimSpace(doc.Find("#" + tc.field + "-error").Text())
				if msg == "" {
					msg = strings.TrimSpace(doc.Find("[id$='-error']").Text())
				}
				if msg == "" || strings.Contains(resp.Header.Get("HX-Trigger"), "success") {
					t.Fatalf("%s at %s: no refusal shown\n%s", tc.label, path, body)
				}
				// The dialog gives the admin their input back to correct
				// (handlers/api_keys.go), escaped; it must stay markup-free.
				checkInert(t, body, tc.name)
				if len(body) > 40_000 {
					t.Fatalf("%s at %s: %d-byte answer", tc.label, path, len(body))
				}
			}
		}
		if after := takeSnapshot(t, ts); after != before {
			t.Fatalf("hostile names changed the database: %+v → %+v", before, after)
		}
		if k := keyByName(t, ts, ts.Demo.Program.ID, "Target"); k.Name != "Target" || k.Description != target.Description {
			t.Fatalf("target key changed: %+v", k)
		}
		t.Logf("%d hostile names refused on generate and edit", len(cases))
	})
}

func TestMarkupInNamesIsRenderedInert(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	payloads := []string{
		`<script>alert(1)</script>`,
		`"><img src=x onerror=alert(2)>`,
		`'><svg onload=alert(3)>`,
		`javascript:alert(4)`,
		`{{7*7}} ${alert(5)}`,
		`</textarea><script>alert(6)</script>`,
	}
	for i, p := range payloads {
		resp, body := admin.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {p}, "description": {"desc " + p}})
		if resp.StatusCode != http.StatusOK || strings.Contains(body, p) && strings.ContainsAny(p, "<>\"") {
			t.Fatalf("payload %d: status %d, or echoed raw", i, resp.StatusCode)
		}
		k := keyByName(t, ts, ts.Demo.Program.ID, p)
		// The edit dialog puts the name into an input's value.
		_, dialog := admin.htmx(http.MethodGet, fmt.Sprintf("/general/api-keys/%d/edit", k.ID), nil)
		if got, _ := parseHTML(t, dialog).Find("input[name=name]").Attr("value"); got != p {
			t.Fatalf("payload %d: edit dialog holds %q", i, got)
		}
		for _, page := range []string{dialog, confirmDialog(t, admin, k.ID)} {
			checkInert(t, page, p)
		}
	}
	for _, path := range []string{"/general/api-keys", "/general/audit-trail"} {
		resp, page := admin.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		doc := parseHTML(t, page)
		for _, p := range payloads {
			checkInert(t, page, p)
			if strings.Contains(p, "<") && !strings.Contains(doc.Text(), p) {
				t.Fatalf("%s does not show %q as text", path, p)
			}
		}
	}
	t.Logf("%d markup payloads rendered as text", len(payloads))
}

func confirmDialog(t *testing.T, c *client, id int64) string {
	t.Helper()
	_, body := c.htmx(http.MethodGet, fmt.Sprintf("/general/api-keys/%d/inactivate", id), nil)
	return body
}

// checkInert fails if a payload became markup: no script other than the
// page's own /static ones, no event-handler attribute, no javascript: URL.
func checkInert(t *testing.T, page, payload string) {
	t.Helper()
	if strings.ContainsAny(payload, "<>") && strings.Contains(page, payload) {
		t.Fatalf("payload %q appears unescaped", payload)
	}
	doc := parseHTML(t, page)
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if src, _ := s.Attr("src"); !strings.HasPrefix(src, "/static/") {
			t.Fatalf("payload %q produced a script element", payload)
		}
	})
	if n := doc.Find("[onerror],[onload],img[src=x]").Length(); n > 0 {
		t.Fatalf("payload %q produced %d active elements", payload, n)
	}
	if n := doc.Find("a[href^='javascript'],[hx-get^='javascript']").Length(); n > 0 {
		t.Fatalf("payload %q produced a javascript: link", payload)
	}
}

func TestOversizedBodiesAre413(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	before := takeSnapshot(t, ts)
	huge := strings.Repeat("x", 200<<10)
	resp, body := admin.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {huge}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Fatalf("oversized form: %d %q", resp.StatusCode, body)
	}
	resp, body = admin.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {huge}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
		t.Fatalf("oversized sign-in: %d", resp.StatusCode)
	}
	// Streamed without a Content-Length, with a valid key: the limit holds
	// once the body is read.
	def, err := ts.Store.Keys.Default(t.Context(), ts.Demo.Program.ID)
	if err != nil {
		t.Fatal(err)
	}
	apiPost := func(chunked bool) (int, string) {
		payload := `{"email":"` + huge + `"}`
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v2/loyalty/members", strings.NewReader(payload))
		if chunked {
			req, _ = http.NewRequest(http.MethodPost, ts.URL+"/v2/loyalty/members", io.MultiReader(strings.NewReader(payload)))
			req.ContentLength = -1
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("partner-id", ts.Demo.Program.PartnerID)
		req.Header.Set("api-key", secretOf(t, ts, *def))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, string(b)
	}
	if code, b := apiPost(false); code != http.StatusRequestEntityTooLarge || !strings.Contains(b, `"success":false`) || !strings.Contains(b, "ERROR_REQUEST_ENTITY_TOO_LARGE") {
		t.Fatalf("oversized API body: %d %s", code, b)
	}
	// Streamed without a Content-Length the limit still holds once the body
	// is read; the members handler reports it as unreadable JSON (400).
	if code, b := apiPost(true); code != http.StatusRequestEntityTooLarge && code != http.StatusBadRequest || !strings.Contains(b, `"success":false`) {
		t.Fatalf("oversized chunked API body: %d %s", code, b)
	}
	// Just under the limit is fine (refused by validation, not by size).
	resp, _ = admin.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {strings.Repeat("y", 60<<10)}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("60 KiB form: %d", resp.StatusCode)
	}
	if after := takeSnapshot(t, ts); after != before {
		t.Fatalf("oversized bodies changed the database: %+v → %+v", before, after)
	}
}

func TestLongSignInFieldsAreRefusedQuietly(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.newClient(t)
	long := strings.Repeat("a", 10_000)
	for _, form := range []url.Values{
		{"email": {long + "@example.test"}, "password": {"x"}},
		{"email": {ts.Demo.Full.Email}, "password": {long}},
		{"email": {"\xff\xfe@example.test"}, "password": {"x"}},
		{"email": {"a\x00@example.test"}, "password": {"x\x00"}},
	} {
		resp, body := c.post("/login", form)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Email or password is incorrect.") {
			t.Fatalf("hostile sign-in: %d", resp.StatusCode)
		}
		if !utf8.ValidString(body) || strings.Contains(body, long) {
			t.Fatal("the sign-in page echoes hostile input back")
		}
	}
	if strings.Contains(ts.Logs.String(), long) {
		t.Fatal("a 10k field reached the logs")
	}
}

func TestWrongMethodsAre405(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	if resp, _ := generate(t, admin, "Keep me"); resp.StatusCode != http.StatusOK {
		t.Fatal("setup")
	}
	k := keyByName(t, ts, ts.Demo.Program.ID, "Keep me")
	before := takeSnapshot(t, ts)
	cases := []struct{ method, path string }{
		{http.MethodGet, "/logout"},
		{http.MethodPut, "/login"},
		{http.MethodDelete, "/general/api-keys"},
		{http.MethodPatch, fmt.Sprintf("/general/api-keys/%d/edit", k.ID)},
		{http.MethodDelete, fmt.Sprintf("/general/api-keys/%d/delete", k.ID)},
		{http.MethodGet, fmt.Sprintf("/general/api-keys/%d/activate", k.ID)},
		{http.MethodGet, fmt.Sprintf("/general/api-keys/%d/reveal", k.ID)},
		{http.MethodPut, fmt.Sprintf("/general/api-keys/%d/copy", k.ID)},
		{http.MethodGet, "/general/reauth"},
		{http.MethodPost, "/healthz"},
		{http.MethodPost, "/static/js/app.js"},
	}
	for _, tc := range cases {
		resp, body := admin.do(tc.method, tc.path, nil, map[string]string{"X-CSRF-Token": admin.csrf()})
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(body, "not allowed") {
			t.Fatalf("%s %s: %d %q", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	if after := takeSnapshot(t, ts); after != before {
		t.Fatalf("wrong methods changed the database: %+v → %+v", before, after)
	}
	// GET /logout did not sign out.
	if resp, _ := admin.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed out by a GET: %d", resp.StatusCode)
	}
	t.Logf("%d wrong methods refused", len(cases))
}

// rawGet sends a request line exactly as written, bypassing any client-side
// path cleaning.
func rawGet(t *testing.T, addr, target string, extra string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: keydesk.test\r\n%sConnection: close\r\n\r\n", target, extra)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStaticPathTraversal(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	addr := ts.Listener.Addr().String()
	if code, body := rawGet(t, addr, "/static/js/app.js", ""); code != http.StatusOK || body == "" {
		t.Fatalf("a real static file: %d", code)
	}
	targets := []string{
		"/static/../../etc/passwd",
		"/static/../../../../../../etc/passwd",
		"/static/..%2f..%2f..%2fetc%2fpasswd",
		"/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"/static/%252e%252e/%252e%252e/etc/passwd",
		"/static/..%5c..%5c..%5cetc%5cpasswd",
		"/static/....//....//etc/passwd",
		"/static/..;/..;/etc/passwd",
		"/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
		"/static/js/../../../go.mod",
		"/static/../models/db.go",
		"/static/embed.go",
		"/static//etc/passwd",
		"/static/%00../../etc/passwd",
	}
	for _, target := range targets {
		code, body := rawGet(t, addr, target, "")
		if code == http.StatusOK || strings.Contains(body, "root:") || strings.Contains(body, "module keydesk") || strings.Contains(body, "package ") {
			t.Fatalf("GET %s: %d, leaked %q", target, code, body[:min(len(body), 80)])
		}
	}
	t.Logf("%d traversal paths refused", len(targets))
}

func TestLoginNextRefusesEveryOffSiteForm(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	nexts := []string{
		"https://evil.example/", "http://evil.example", "//evil.example", "///evil.example",
		"/\\evil.example", "\\\\evil.example", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
		"/ /evil.example", "/%09/evil.example", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
		"evil.example", "https:evil.example", "/\x00/evil.example", "\t//evil.example", " //evil.example",
		"/\u3000/evil.example", "/\x0b/evil.example", "/\x0c/evil.example",
	}
	for _, next := range nexts {
		c := ts.newClient(t)
		// The sign-in page does not carry it into its form…
		_, page := c.get("/login?next=" + url.QueryEscape(next))
		if v, _ := parseHTML(t, page).Find("input[name=next]").Attr("value"); v != "" && !isLocalRedirect(v) {
			t.Fatalf("next=%q kept in the sign-in form as %q", next, v)
		}
		// …and signing in with it stays on keydesk.
		resp, _ := c.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}, "next": {next}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !isLocalRedirect(loc) {
			t.Fatalf("next=%q redirected to %q", next, loc)
		}
	}
	t.Logf("%d off-site next values refused", len(nexts))
}

// isLocalRedirect applies what browsers do to a Location (strip tabs and
// newlines, leading and trailing spaces and C0 controls, treat \ as /)
// and checks the result is a path on this host.
func isLocalRedirect(loc string) bool {
	s := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		if r == '\\' {
			return '/'
		}
		return r
	}, loc)
	s = strings.TrimFunc(s, func(r rune) bool { return r <= 0x20 })
	u, err := url.Parse(s)
	return err == nil && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && u.Host == "" && u.Scheme == ""
}

func TestOversizedHeadersAreRefused(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	// The same limit as `keydesk serve`.
	srv := httptest.NewUnstartedServer(ts.App.Echo)
	srv.Config.MaxHeaderBytes = 32 << 10
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	before := takeSnapshot(t, ts)
	if code, _ := rawGet(t, addr, "/healthz", "X-Padding: "+strings.Repeat("a", 8<<10)+"\r\n"); code != http.StatusOK {
		t.Fatalf("8 KiB of headers: %d", code)
	}
	for _, extra := range []string{
		"X-Padding: " + strings.Repeat("a", 64<<10) + "\r\n",
		"Cookie: keydesk_session=" + strings.Repeat("b", 48<<10) + "\r\n",
		strings.Repeat("X-Many: c\r\n", 8000),
	} {
		code, _ := rawGet(t, addr, "/login", extra)
		if code != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("oversized headers: %d", code)
		}
	}
	if after := takeSnapshot(t, ts); after != before {
		t.Fatalf("oversized headers changed the database: %+v → %+v", before, after)
	}
	if strings.Contains(ts.Logs.String(), strings.Repeat("a", 100)) {
		t.Fatal("header values reached the logs")
	}
}
