package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
	"keydesk/routes"
)

// TestCSRFOfAnEndedSessionIsASessionEnd: Show API key pressed on a page
// whose session has ended carries that session's CSRF token, which matches
// nothing any more. Whether the session was signed out in another tab of
// the same browser (which also removes the cookie) or removed on the
// server (the cookie stays), the answer is the session-ended path: sign in
// again, with the notice, and back to the page. Nothing is revealed. A
// wrong token on a live session is still the expired-form error, and Sign
// out on a dead page goes to the sign-in page.
func TestCSRFOfAnEndedSessionIsASessionEnd(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		key := seedKeys(t, ts, "Shopify sync")[0]
		page := "/general/api-keys?q=shop"
		reveal := func(c *client, token string) (*http.Response, string) {
			t.Helper()
			return c.do(http.MethodPost, routes.APIKeyReveal(key.ID), url.Values{}, map[string]string{
				"HX-Request": "true", "HX-Current-URL": ts.URL + page, "X-CSRF-Token": token,
			})
		}
		wantTarget := "/login?ended=1&next=" + url.QueryEscape(page)
		const expired = "This form has expired"

		// A live session with a token that is not its own: the CSRF error.
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, body := reveal(c, base64.RawURLEncoding.EncodeToString([]byte("a well-formed token of no session")[:32]))
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, expired) {
			t.Fatalf("live session, wrong token: %d %q, want 403 with the expired-form error", resp.StatusCode, body)
		}

		// Signed out in another tab: the shared cookie jar loses the cookie.
		token := c.csrf()
		if resp, _ := c.post(routes.Logout, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign out in the other tab: %d", resp.StatusCode)
		}
		if cookieValue(c, ts, "keydesk_session") != "" {
			t.Fatal("the session cookie outlived signing out")
		}
		resp, body = reveal(c, token)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != wantTarget || strings.Contains(body, expired) {
			t.Fatalf("signed out in another tab: %d HX-Redirect %q %q, want 401 to %q", resp.StatusCode, resp.Header.Get("HX-Redirect"), body, wantTarget)
		}
		// Sign out pressed on the dead page: already done, to sign in.
		resp, body = c.do(http.MethodPost, routes.Logout, url.Values{"_csrf": {token}}, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != routes.Login {
			t.Fatalf("sign out on a page signed out elsewhere: %d Location %q %q", resp.StatusCode, resp.Header.Get("Location"), body)
		}

		// Removed on the server (the cookie stays, naming nothing).
		c = ts.loggedIn(t, ts.Demo.Full.Email)
		token = c.csrf()
		if err := ts.Store.DB.Exec("DELETE FROM sessions").Error; err != nil {
			t.Fatal(err)
		}
		resp, body = reveal(c, token)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != wantTarget || strings.Contains(body, expired) {
			t.Fatalf("session removed: %d HX-Redirect %q %q, want 401 to %q", resp.StatusCode, resp.Header.Get("HX-Redirect"), body, wantTarget)
		}

		if containsAction(ts.auditActions(t, ts.Demo.Program.ID), "api_key.revealed:success") {
			t.Fatal("a key was revealed to an ended session")
		}
		_, body = c.get(wantTarget)
		if !strings.Contains(body, "Your session has ended. Sign in again.") {
			t.Fatal("the sign-in page does not say the session ended")
		}
	})
}
