package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// passkeyRequest is the answer passkeys.js posts: JSON, with the page's
// CSRF token in the header.
func passkeyRequest(c *client, path, body string) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.ts.URL+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", c.csrf())
	return req
}

// passkeyOptions asks for a ceremony's options as passkeys.js does.
func passkeyOptions(t *testing.T, c *client, path string, form url.Values) string {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	resp, body := c.do(http.MethodPost, path, form, map[string]string{"X-CSRF-Token": c.csrf(), "Accept": "application/json"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func sessionRows(t *testing.T, ts *testServer) int64 {
	t.Helper()
	var n int64
	if err := ts.Store.DB.Table("sessions").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// frozenClient sends requests with exactly the cookies c holds now: the
// simultaneous answers of one ceremony all carry the same ones, whatever
// the first answer sets.
func frozenClient(c *client) *client {
	return &client{t: c.t, ts: c.ts, http: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func withCookiesOf(c *client, req *http.Request) *http.Request {
	for _, ck := range c.http.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	return req
}

// Issue 21 item 3: an anonymous visitor asking for passkey sign-in options
// writes nothing to the sessions table (50 requests, 0 rows), and the
// passkey sign-in still works end to end.
func TestAnonymousPasskeyOptionsWriteNoSession(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withBaseURL(softPasskeyBase))
		pk := newSoftPasskey(t, ts, ts.Demo.Full.ID, ts.Demo.Full.Email, ts.Demo.Program.ID)
		before := sessionRows(t, ts)
		for range 50 {
			passkeyOptions(t, ts.newClient(t), "/login/passkey/options", nil)
		}
		if added := sessionRows(t, ts) - before; added != 0 {
			t.Fatalf("50 anonymous passkey options added %d session rows, want 0", added)
		}

		// The ceremony waits in a sealed cookie sent only to the answer.
		c := ts.newClient(t)
		resp, options := c.do(http.MethodPost, "/login/passkey/options", url.Values{"next": {"/general/settings"}}, map[string]string{"X-CSRF-Token": c.csrf()})
		cookie := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		for _, want := range []string{"keydesk_passkey_login=", "Path=/login/passkey;", "Max-Age=300", "HttpOnly", "SameSite=Lax"} {
			if resp.StatusCode != http.StatusOK || !strings.Contains(cookie, want) {
				t.Fatalf("options: %d, cookie %q lacks %q", resp.StatusCode, cookie, want)
			}
		}
		resp, body := doRequest(t, c, passkeyRequest(c, "/login/passkey", pk.assert(t, options)))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"redirect":"/general/settings"`) {
			t.Fatalf("passkey sign-in: %d %s\n%s", resp.StatusCode, body, ts.Logs.String())
		}
		resp, _ = c.get("/general/settings")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after passkey sign-in, /general/settings: %d", resp.StatusCode)
		}
		if added := sessionRows(t, ts) - before; added != 1 {
			t.Fatalf("the sign-in added %d session rows, want 1", added)
		}
	})
}

func doRequest(t *testing.T, c *client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Issue 21 item 10: a passkey's challenge is taken once. Ten simultaneous
// answers carrying one assertion of a passkey whose signature count stays
// 0 (a synced passkey): exactly one signs in (with the passkey alone, or as
// the second step after the password), and exactly one confirms a
// re-authentication.
func TestPasskeyAssertionIsTakenOnce(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withBaseURL(softPasskeyBase))
		const n = 10

		// Sign-in with the passkey alone.
		pk := newSoftPasskey(t, ts, ts.Demo.Full.ID, ts.Demo.Full.Email, ts.Demo.Program.ID)
		c := ts.newClient(t)
		answer := pk.assert(t, passkeyOptions(t, c, "/login/passkey/options", nil))
		frozen := frozenClient(c)
		results := raceRequests(n, func(int) (*client, *http.Request) {
			return frozen, withCookiesOf(c, passkeyRequest(c, "/login/passkey", answer))
		})
		if got := count(results, func(r raceResult) bool { return r.status == http.StatusOK && strings.Contains(r.body, "redirect") }); got != 1 {
			t.Fatalf("%d simultaneous sign-ins with one assertion succeeded, want 1: %+v", got, results)
		}

		// Re-authentication of a signed-in admin with Use passkey.
		admin := ts.loggedIn(t, ts.Other.Full.Email)
		other := newSoftPasskey(t, ts, ts.Other.Full.ID, ts.Other.Full.Email, ts.Other.Program.ID)
		answer = other.assert(t, passkeyOptions(t, admin, "/general/reauth/passkey/options", nil))
		frozen = frozenClient(admin)
		results = raceRequests(n, func(int) (*client, *http.Request) {
			return frozen, withCookiesOf(admin, passkeyRequest(admin, "/general/reauth/passkey", answer))
		})
		if got := count(results, func(r raceResult) bool {
			return r.status == http.StatusOK && strings.Contains(r.body, "reauthenticated")
		}); got != 1 {
			t.Fatalf("%d simultaneous re-authentications with one assertion succeeded, want 1: %+v", got, results)
		}
		for _, r := range results {
			if r.status >= 500 {
				t.Fatalf("a simultaneous answer failed with %d", r.status)
			}
		}

		// The passkey as the second step after the password.
		limited := newSoftPasskey(t, ts, ts.Demo.Limited.ID, ts.Demo.Limited.Email, ts.Demo.Program.ID)
		signingIn := ts.newClient(t)
		resp, _ := signingIn.post("/login", url.Values{"email": {ts.Demo.Limited.Email}, "password": {modeltest.Password}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/code" {
			t.Fatalf("password step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		answer = limited.assert(t, passkeyOptions(t, signingIn, "/login/code/passkey/options", nil))
		frozen = frozenClient(signingIn)
		results = raceRequests(n, func(int) (*client, *http.Request) {
			return frozen, withCookiesOf(signingIn, passkeyRequest(signingIn, "/login/code/passkey", answer))
		})
		if got := count(results, func(r raceResult) bool { return r.status == http.StatusOK && strings.Contains(r.body, "redirect") }); got != 1 {
			t.Fatalf("%d simultaneous second steps with one assertion succeeded, want 1: %+v", got, results)
		}
	})
}
