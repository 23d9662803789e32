package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// Adding a passkey lets someone sign in, so it needs the current password:
// a stolen session alone cannot plant its own passkey.
func TestPasskeyChangesNeedTheCurrentPassword(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Support.Email)
		for _, tc := range []struct{ password, want string }{
			{"", "Enter your current password"},
			{"not the password", "Current password is incorrect"},
		} {
			resp, body := c.htmx(http.MethodPost, "/account/passkeys/options", url.Values{"name": {"Laptop"}, "current_password": {tc.password}})
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) {
				t.Fatalf("add passkey with password %q: %d %s", tc.password, resp.StatusCode, body)
			}
		}
		// With the password the request goes on to WebAuthn (which needs a
		// host name, not the test server's IP address: a clear 409).
		resp, body := c.htmx(http.MethodPost, "/account/passkeys/options", url.Values{"name": {"Laptop"}, "current_password": {modeltest.Password}})
		if resp.StatusCode == http.StatusUnprocessableEntity {
			t.Fatalf("add passkey with the right password refused: %s", body)
		}
		actions := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " ")
		if strings.Count(actions, "reauth.failed") < 1 || !strings.Contains(actions, "reauth.succeeded") {
			t.Fatalf("password confirmations not audited: %s", actions)
		}
	})
}
