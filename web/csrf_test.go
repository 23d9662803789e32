package web_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"keydesk/models/modeltest"
)

// The CSRF token is a synchronizer token kept in the signed-in session
// (issue 11, item 7). These tests try the ways a double-submit cookie
// token is taken over.

// plantCSRFCookie sets the anonymous CSRF cookie in c's jar, as a script on
// a sibling subdomain or a man in the middle on plain HTTP can.
func plantCSRFCookie(t *testing.T, c *client, value string) {
	t.Helper()
	u, _ := url.Parse(c.ts.URL)
	c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "keydesk_csrf", Value: value, Path: "/"}})
}

// keyCount counts the Demo program's keys other than the default one.
func keyCount(t *testing.T, ts *testServer) int64 {
	t.Helper()
	n, err := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func generateWithToken(c *client, token string) int {
	c.t.Helper()
	resp, _ := c.do(http.MethodPost, "/general/api-keys", url.Values{"name": {"forged"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": token})
	return resp.StatusCode
}

// TestCSRFTokenFromAnotherSessionIsRefused: the token of one signed-in
// session does not work in another, even when the attacker also plants the
// matching cookie (which defeats a double-submit cookie).
func TestCSRFTokenFromAnotherSessionIsRefused(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		attacker := ts.loggedIn(t, ts.Other.Full.Email)
		attackerToken := attacker.csrf()
		victim := ts.loggedIn(t, ts.Demo.Full.Email)
		// The same admin in a second session is "another session" too.
		second := ts.loggedIn(t, ts.Demo.Full.Email)
		for name, token := range map[string]string{"another admin's session": attackerToken, "the same admin's other session": second.csrf()} {
			if status := generateWithToken(victim, token); status != http.StatusForbidden {
				t.Errorf("token from %s: %d, want 403", name, status)
			}
			plantCSRFCookie(t, victim, token)
			if status := generateWithToken(victim, token); status != http.StatusForbidden {
				t.Errorf("token from %s with the planted cookie: %d, want 403", name, status)
			}
			victim.token = "" // read the page again
		}
		if n := keyCount(t, ts); n != 0 {
			t.Fatalf("a forged request created %d keys", n)
		}
		// The victim's own token still works.
		if status := generateWithToken(victim, victim.csrf()); status != http.StatusOK {
			t.Fatalf("own token: %d", status)
		}
	})
}

// TestCSRFTokenFromBeforeSignInIsRefusedAfter: the token of the anonymous
// sign-in page (or one an attacker fixed in the browser before sign-in)
// stops working at sign-in; the signed-in pages carry a new one.
func TestCSRFTokenFromBeforeSignInIsRefusedAfter(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.newClient(t)
		before := c.csrf()
		c.login(ts.Demo.Full.Email)
		after := c.csrf()
		if after == "" || after == before {
			t.Fatalf("the token was not rotated at sign-in: %q → %q", before, after)
		}
		if status := generateWithToken(c, before); status != http.StatusForbidden {
			t.Fatalf("token from before sign-in: %d, want 403", status)
		}
		// Fixed by an attacker: their cookie and its token, planted before
		// the victim signs in.
		fixer := ts.newClient(t)
		fixed := fixer.csrf()
		victim := ts.newClient(t)
		plantCSRFCookie(t, victim, fixed)
		resp, _ := victim.do(http.MethodPost, "/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}, "_csrf": {fixed}}, nil)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", resp.StatusCode)
		}
		if status := generateWithToken(victim, fixed); status != http.StatusForbidden {
			t.Fatalf("token fixed before sign-in: %d, want 403", status)
		}
		if n := keyCount(t, ts); n != 0 {
			t.Fatalf("a forged request created %d keys", n)
		}
		if status := generateWithToken(c, after); status != http.StatusOK {
			t.Fatalf("the signed-in page's token: %d", status)
		}
	})
}

// TestCSRFTokenInQueryStringIsRefused: the token is taken from the
// X-CSRF-Token header or the _csrf form field only; in the URL it would
// leak into logs, history and Referer headers.
func TestCSRFTokenInQueryStringIsRefused(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		token := c.csrf()
		q := "?_csrf=" + url.QueryEscape(token)
		resp, _ := c.do(http.MethodPost, "/general/api-keys"+q, url.Values{"name": {"via query"}}, map[string]string{"HX-Request": "true"})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("signed-in POST with the token in the query string: %d, want 403", resp.StatusCode)
		}
		resp, _ = c.do(http.MethodPost, "/general/api-keys"+q, url.Values{"name": {"via query"}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("signed-in form POST with the token in the query string: %d, want 403", resp.StatusCode)
		}
		if n := keyCount(t, ts); n != 0 {
			t.Fatalf("a query-string token created %d keys", n)
		}
		// The sign-in form too.
		anon := ts.newClient(t)
		q = "?_csrf=" + url.QueryEscape(anon.csrf())
		resp, _ = anon.do(http.MethodPost, "/login"+q, url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}}, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("sign-in with the token in the query string: %d, want 403", resp.StatusCode)
		}
		// Header and form field work.
		if status := generateWithToken(c, token); status != http.StatusOK {
			t.Fatalf("header token: %d", status)
		}
		resp, _ = c.do(http.MethodPost, "/general/api-keys", url.Values{"name": {"via form"}, "_csrf": {token}}, map[string]string{"HX-Request": "true"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("form token: %d", resp.StatusCode)
		}
	})
}

// TestCSRFAfterTheSessionEndedSendsToSignIn: an action from a page whose
// session has ended carries that session's token, which no longer matches
// anything; it is refused as a signed-out request (sent to sign in), and
// changes nothing.
func TestCSRFAfterTheSessionEndedSendsToSignIn(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	clock := time.Now()
	ts.Store.SetClock(func() time.Time { return clock })
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	token := c.csrf()
	clock = clock.Add(31 * time.Minute)
	resp, _ := c.do(http.MethodPost, "/general/api-keys", url.Values{"name": {"late"}}, map[string]string{"HX-Request": "true", "X-CSRF-Token": token})
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != "/login?ended=1" {
		t.Fatalf("action after the session ended: %d, HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	if n := keyCount(t, ts); n != 0 {
		t.Fatalf("an action after the session ended created %d keys", n)
	}
}
