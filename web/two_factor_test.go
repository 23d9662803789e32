package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keydesk/models/modeltest"
)

// setUpTOTP sets up an authenticator app through /account at now and
// returns its secret and recovery codes.
func setUpTOTP(t *testing.T, ts *testServer, c *client, now time.Time) (string, []string) {
	t.Helper()
	resp, body := c.post("/account/totp/setup", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("setup: %d", resp.StatusCode)
	}
	doc := parseHTML(t, body)
	secret := strings.TrimSpace(doc.Find("#totp-secret").Text())
	if src, _ := doc.Find(`img[alt^="QR code"]`).Attr("src"); !strings.HasPrefix(src, "data:image/png;base64,") || secret == "" {
		t.Fatalf("no QR code or key on the page")
	}
	if resp, _ := c.post("/account/totp/confirm", url.Values{"code": {"000000"}}); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong confirmation code: %d", resp.StatusCode)
	}
	code, _ := totp.GenerateCode(secret, now)
	resp, body = c.post("/account/totp/confirm", url.Values{"code": {code}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	var codes []string
	for _, li := range parseHTML(t, body).Find("#recovery-codes li").Nodes {
		codes = append(codes, strings.TrimSpace(li.FirstChild.Data))
	}
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	return secret, codes
}

// signInWithCode signs in with the password and then code, returning the
// second step's status.
func signInWithCode(t *testing.T, ts *testServer, email, code string) (*client, int) {
	t.Helper()
	c := ts.newClient(t)
	resp, _ := c.post("/login", url.Values{"email": {email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/code" {
		t.Fatalf("password step: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed in before the code: %d", resp.StatusCode)
	}
	resp, _ = c.post("/login/code", url.Values{"code": {code}})
	return c, resp.StatusCode
}

func TestTOTPReplayThrottleAndRecoveryCodes(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		base := time.Now().Truncate(30 * time.Second)
		ts.Store.SetClock(func() time.Time { return base })
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		secret, recovery := setUpTOTP(t, ts, full, base)

		// The code used to confirm is spent already.
		code0, _ := totp.GenerateCode(secret, base)
		if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, code0); status != http.StatusUnauthorized {
			t.Fatalf("the confirmation code signed in again: %d", status)
		}
		// The next step's code works once.
		next := base.Add(30 * time.Second)
		ts.Store.SetClock(func() time.Time { return next })
		code1, _ := totp.GenerateCode(secret, next)
		c, status := signInWithCode(t, ts, ts.Demo.Full.Email, code1)
		if status != http.StatusSeeOther {
			t.Fatalf("right code: %d", status)
		}
		if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("signed in with the code: %d", resp.StatusCode)
		}
		if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, code1); status != http.StatusUnauthorized {
			t.Fatalf("replayed code: %d", status)
		}
		// A recovery code works once.
		if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, recovery[0]); status != http.StatusSeeOther {
			t.Fatalf("recovery code: %d", status)
		}
		if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, recovery[0]); status != http.StatusUnauthorized {
			t.Fatalf("recovery code reused: %d", status)
		}
		// Re-authentication asks for the code too.
		if _, body := c.htmx(http.MethodPost, "/general/reauth", url.Values{"password": {modeltest.Password}, "code": {code1}}); !strings.Contains(body, "wrong or was already used") {
			t.Fatalf("re-auth accepted a used code:\n%s", body)
		}
		// Throttled like passwords: 5 wrong codes (one above) then even the right one is refused.
		for range 3 {
			signInWithCode(t, ts, ts.Demo.Full.Email, "123456")
		}
		later := next.Add(30 * time.Second)
		ts.Store.SetClock(func() time.Time { return later })
		code2, _ := totp.GenerateCode(secret, later)
		if _, status := signInWithCode(t, ts, ts.Demo.Full.Email, code2); status != http.StatusTooManyRequests {
			t.Fatalf("right code past the throttle: %d", status)
		}
		got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " ")
		for _, want := range []string{"admin.totp_enabled:success", "signin.second_factor_failed:failure", "signin.second_factor_failed:refused", "admin.recovery_code_used:success"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit lacks %s", want)
			}
		}
	})
}

func TestAccountPasswordAndSessions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		a, b := ts.loggedIn(t, ts.Demo.Limited.Email), ts.loggedIn(t, ts.Demo.Limited.Email)
		if resp, body := a.get("/account"); resp.StatusCode != http.StatusOK || parseHTML(t, body).Find("[data-session]").Length() != 2 {
			t.Fatalf("account page: %d, sessions %d", resp.StatusCode, parseHTML(t, body).Find("[data-session]").Length())
		}
		if resp, _ := a.post("/account/password", url.Values{"current_password": {"wrong password!!"}, "new_password": {"a brand new password"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("wrong current password: %d", resp.StatusCode)
		}
		if resp, _ := a.post("/account/password", url.Values{"current_password": {modeltest.Password}, "new_password": {"short"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("weak new password: %d", resp.StatusCode)
		}
		if resp, _ := a.post("/account/password", url.Values{"current_password": {modeltest.Password}, "new_password": {"a brand new password"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("change password: %d", resp.StatusCode)
		}
		if resp, _ := a.get("/account"); resp.StatusCode != http.StatusOK {
			t.Fatalf("this session ended: %d", resp.StatusCode)
		}
		if resp, _ := b.get("/account"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("other session survived the password change: %d", resp.StatusCode)
		}
		c := ts.newClient(t)
		if resp, _ := c.post("/login", url.Values{"email": {ts.Demo.Limited.Email}, "password": {"a brand new password"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("new password: %d", resp.StatusCode)
		}
		if resp, _ := a.post("/account/sessions/sign-out-others", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatal("sign out others")
		}
		if resp, _ := c.get("/account"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("other session survived Sign out other sessions: %d", resp.StatusCode)
		}
		if resp, _ := a.get("/account"); resp.StatusCode != http.StatusOK {
			t.Fatal("Sign out other sessions ended this one")
		}
	})
}

// TestTwoFactorPolicyEveryRoute: with the policy on, an admin without a
// second factor reaches nothing but /account (and signing out, switching
// programs) until they set one up.
func TestTwoFactorPolicyEveryRoute(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		if resp, _ := full.post("/general/settings/two-factor", url.Values{"require_two_factor": {"on"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("policy: %d", resp.StatusCode)
		}
		exempt := map[string]bool{"/account": true, "/logout": true, "/session/program": true}
		for _, who := range []*client{full, ts.loggedIn(t, ts.Demo.Support.Email)} {
			checked := 0
			for _, r := range ts.App.Echo.Routes() {
				p := r.Path
				if r.Method == "echo_route_not_found" || r.Method == http.MethodHead || exempt[p] || strings.HasPrefix(p, "/account/") || strings.HasPrefix(p, "/v2") ||
					strings.HasPrefix(p, "/static") || strings.HasPrefix(p, "/login") || strings.HasPrefix(p, "/invite") || strings.HasPrefix(p, "/sso/") || strings.HasPrefix(p, "/scim/") || p == "/healthz" || p == "/readyz" {
					continue
				}
				p = strings.ReplaceAll(p, ":id", "1")
				checked++
				if r.Method == http.MethodGet {
					resp, _ := who.get(p)
					if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
						t.Errorf("GET %s: %d to %q, want /account", p, resp.StatusCode, resp.Header.Get("Location"))
					}
					resp, _ = who.htmx(http.MethodGet, p, nil)
					if resp.Header.Get("HX-Redirect") != "/account" {
						t.Errorf("htmx GET %s: %d, no redirect to /account", p, resp.StatusCode)
					}
				} else {
					resp, _ := who.post(p, url.Values{"password": {modeltest.Password}})
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("POST %s: %d, want 403", p, resp.StatusCode)
					}
				}
			}
			if checked < 20 {
				t.Fatalf("only %d routes checked", checked)
			}
		}
		// The sign-in sends them to /account; once set up, everything opens.
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		if resp, _ := c.get("/"); resp.Header.Get("Location") != "/account" {
			t.Fatalf("home: %q", resp.Header.Get("Location"))
		}
		setUpTOTP(t, ts, c, time.Now())
		if resp, _ := c.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after setup: %d", resp.StatusCode)
		}
	})
}
