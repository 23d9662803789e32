package web_test

import (
	"net/http"

	"github.com/PuerkitoBio/goquery"

	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

func TestSignInAndOut(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.newClient(t)

		resp, _ := c.get("/general/api-keys")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("anonymous: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, body := c.get("/login")
		doc := parseHTML(t, body)
		if doc.Find("label[for=email]").Text() != "Email" || doc.Find("label[for=password]").Text() != "Password" || strings.TrimSpace(doc.Find("button[type=submit]").Text()) != "Sign in" {
			t.Fatal("sign-in page labels differ from the contract")
		}

		resp, body = c.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Email or password is incorrect.") {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
		resp, body2 := c.post("/login", url.Values{"email": {"nobody@example.test"}, "password": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body2, "Email or password is incorrect.") {
			t.Fatalf("unknown email: %d", resp.StatusCode)
		}

		// A session id planted before sign-in is replaced.
		before := cookieValue(c, ts, "keydesk_session")
		c.login(ts.Demo.Full.Email)
		after := cookieValue(c, ts, "keydesk_session")
		if after == "" || after == before {
			t.Fatal("session cookie not issued fresh at sign-in")
		}
		resp, body = c.get("/general/api-keys")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, ts.Demo.Full.Email) {
			t.Fatalf("signed in: status %d", resp.StatusCode)
		}
		// Sign-out revokes the session server-side: replaying the old
		// cookie does not work.
		stolen := ts.newClient(t)
		u, _ := url.Parse(ts.URL)
		stolen.http.Jar.SetCookies(u, c.http.Jar.Cookies(u))
		resp, _ = c.post("/logout", nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: %d", resp.StatusCode)
		}
		resp, _ = stolen.get("/general/api-keys")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("replayed session after sign-out: status %d", resp.StatusCode)
		}
		var count int64
		ts.Store.DB.Raw("SELECT COUNT(*) FROM sessions").Scan(&count)
		if count != 0 {
			t.Fatalf("%d sessions left in the database after sign-out", count)
		}
		actions := ts.auditActions(t, ts.Demo.Program.ID)
		for _, want := range []string{"signin.failed:failure", "signin.succeeded:success", "signout:success"} {
			if !slices.Contains(actions, want) {
				t.Fatalf("audit trail lacks %s: %v", want, actions)
			}
		}
		var system []audit.Event
		ts.Store.DB.Where("program_id = 0").Find(&system)
		if len(system) != 1 || system[0].Action != audit.ActionSignInFailed {
			t.Fatalf("unknown-email failure not in the system chain: %+v", system)
		}
	})
}

func cookieValue(c *client, ts *testServer, name string) string {
	u, _ := url.Parse(ts.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

func TestSignInThrottling(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.newClient(t)
	for i := range 5 {
		resp, _ := c.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, resp.StatusCode)
		}
	}
	// Now even the right password is refused, with a generic message.
	resp, body := c.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-in attempts") {
		t.Fatalf("throttled sign-in: %d", resp.StatusCode)
	}
	// Another account from the same IP is not locked out by that account's failures.
	c2 := ts.newClient(t)
	c2.login(ts.Demo.Support.Email)
	// Per IP: 20 failures across accounts lock the IP.
	for i := range 20 {
		c.post("/login", url.Values{"email": {"nobody" + string(rune('a'+i)) + "@x.test"}, "password": {"nope nope nope"}})
	}
	resp, _ = c.post("/login", url.Values{"email": {ts.Other.Full.Email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("IP throttle: %d", resp.StatusCode)
	}
}

func TestRoleBasedNavigationAndRefusals(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		navOf := func(c *client, path string) []string {
			_, body := c.get(path)
			var items []string
			parseHTML(t, body).Find("nav[aria-label=General] a").Each(func(_ int, s *goquery.Selection) {
				items = append(items, strings.TrimSpace(s.Text()))
			})
			return items
		}
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		if got := strings.Join(navOf(full, "/general/api-keys"), ","); got != "Settings,API Keys,Webhooks,Management keys,Admins,Audit Trail,API reference,Your account" {
			t.Fatalf("full nav: %s", got)
		}
		support := ts.loggedIn(t, ts.Demo.Support.Email)
		if got := strings.Join(navOf(support, "/general/audit-trail"), ","); got != "Audit Trail,Your account" {
			t.Fatalf("support nav: %s", got)
		}
		limited := ts.loggedIn(t, ts.Demo.Limited.Email)
		if got := strings.Join(navOf(limited, "/general/no-access"), ","); got != "Your account" {
			t.Fatalf("limited nav: %s", got)
		}
		for _, c := range []*client{support, limited} {
			for _, path := range []string{"/general/api-keys", "/general/settings", "/general/api-keys/new"} {
				if resp, _ := c.get(path); resp.StatusCode != http.StatusForbidden {
					t.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
			}
			resp, _ := c.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {"sneaky"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("POST generate as limited: %d", resp.StatusCode)
			}
		}
		if resp, _ := limited.get("/general/audit-trail"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("limited audit trail: %d", resp.StatusCode)
		}
		if n, _ := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID); n != 0 {
			t.Fatal("a refused request created a key")
		}
		if !slices.Contains(ts.auditActions(t, ts.Demo.Program.ID), "access.refused:refused") {
			t.Fatal("refusal not audited")
		}
	})
}

func TestCSRFAndSecurityHeaders(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	// A cross-origin form post (no token, browser marks it cross-site) is refused.
	resp, _ := c.do(http.MethodPost, "/general/api-keys", url.Values{"name": {"forged"}}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: %d", resp.StatusCode)
	}
	// Same without any browser hint and without a token.
	resp, _ = c.do(http.MethodPost, "/general/api-keys", url.Values{"name": {"forged"}}, map[string]string{"HX-Request": "true"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tokenless POST: %d", resp.StatusCode)
	}
	// Logout is a POST and needs the token too.
	resp, _ = c.do(http.MethodPost, "/logout", url.Values{}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("tokenless logout: %d", resp.StatusCode)
	}
	if n, _ := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID); n != 0 {
		t.Fatal("forged request created a key")
	}
	resp, body := c.get("/general/api-keys")
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP lacks %q: %s", want, csp)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatal("CSP allows inline code")
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Request-Id") == "" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("missing security headers: %v", h)
	}
	doc := parseHTML(t, body)
	if doc.Find("script:not([src])").Length() != 0 || doc.Find("[style]").Length() != 0 || doc.Find("[onclick]").Length() != 0 {
		t.Fatal("inline script or style in the page")
	}
	if resp, _ := c.get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatal("healthz")
	}
	if resp, _ := c.get("/readyz"); resp.StatusCode != http.StatusOK {
		t.Fatal("readyz")
	}
}

func TestLoginNextIsNotAnOpenRedirect(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	for next, want := range map[string]string{
		"/general/settings":     "/general/settings",
		"https://evil.example/": "/general/api-keys",
		"//evil.example/":       "/general/api-keys",
		"/\\evil.example":       "/general/api-keys",
	} {
		c := ts.newClient(t)
		resp, _ := c.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}, "next": {next}})
		if got := resp.Header.Get("Location"); got != want {
			t.Fatalf("next=%q redirected to %q, want %q", next, got, want)
		}
	}
}

func TestProgramSwitcher(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	// The demo program's full admin also joins the other program, with
	// limited access there.
	if _, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Other.Program.ID, ts.Demo.Full.Email, "ignored for an existing account", accounts.AccessLimited, []string{accounts.ModuleAuditTrail}); err != nil {
		t.Fatal(err)
	}
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	_, body := c.get("/general/api-keys")
	doc := parseHTML(t, body)
	if doc.Find("form[action='/session/program']").Length() != 2 {
		t.Fatal("an admin of two programs gets no switcher")
	}
	resp, _ := c.post("/session/program", url.Values{"partner_id": {ts.Other.Program.PartnerID}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/general/audit-trail" {
		t.Fatalf("switch: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Limited in the other program: API Keys are refused there.
	if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("API keys after switching to a limited membership: %d", resp.StatusCode)
	}
	// A program the admin does not belong to is a 404.
	if resp, _ := c.post("/session/program", url.Values{"partner_id": {"ffffffffff"}}); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("switch to a foreign program: %d", resp.StatusCode)
	}
}

func TestSessionTimeouts(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	start := time.Now()
	clock := start
	ts.Store.SetClock(func() time.Time { return clock })
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	// Active use every 20 minutes keeps the session alive…
	for i := 1; i <= 3; i++ {
		clock = start.Add(time.Duration(i) * 20 * time.Minute)
		if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after %d×20 min of activity: %d", i, resp.StatusCode)
		}
	}
	// …31 idle minutes end it.
	clock = clock.Add(31 * time.Minute)
	if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after 31 idle minutes: %d", resp.StatusCode)
	}
	// Absolute lifetime: 12 hours even when active.
	c = ts.loggedIn(t, ts.Demo.Full.Email)
	start = clock
	for elapsed := 25 * time.Minute; elapsed < 12*time.Hour; elapsed += 25 * time.Minute {
		clock = start.Add(elapsed)
		if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("active session ended after %s: %d", elapsed, resp.StatusCode)
		}
	}
	clock = start.Add(12*time.Hour + time.Minute)
	if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("session outlived 12 hours: %d", resp.StatusCode)
	}
}

func TestSecureCookies(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), func(c *config.Options) { c.SecureCookies = true })
	c := ts.newClient(t)
	resp, _ := c.get("/login")
	csrf := resp.Header.Get("Set-Cookie")
	form := url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}, "_csrf": {c.csrf()}}
	resp, _ = c.do(http.MethodPost, "/login", form, nil)
	session := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
	for name, header := range map[string]string{"CSRF": csrf, "session": session} {
		if !strings.Contains(header, "Secure") || !strings.Contains(header, "HttpOnly") {
			t.Fatalf("%s cookie lacks Secure or HttpOnly: %q", name, header)
		}
	}
	if !strings.Contains(session, "SameSite=Lax") {
		t.Fatalf("session cookie is not SameSite=Lax: %q", session)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS with secure cookies")
	}
}
