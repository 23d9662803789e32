package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// An overlong email on Invite admin and an overlong password on an
// invitation are refused in the same words as every other bad email and
// password, not in the store's error text.
func TestAccountErrorsReadTheSameEverywhere(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	full := ts.loggedIn(t, ts.Demo.Full.Email)

	resp, body := full.post("/general/admins/invite", url.Values{"email": {strings.Repeat("a", 300) + "@example.test"}, "access": {"full"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a valid email address.") {
		t.Fatalf("overlong email: %d, want the email message\n%s", resp.StatusCode, body)
	}
	resp, body = full.post("/general/admins/invite", url.Values{"email": {"not-an-email"}, "access": {"full"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Enter a valid email address.") {
		t.Fatalf("invalid email: %d, want the email message", resp.StatusCode)
	}

	link := invite(t, full, "newcomer@example.test", "full")
	guest := ts.newClient(t)
	guest.get(link)
	resp, body = guest.post(link, url.Values{"password": {strings.Repeat("p", 300)}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose a password of 12 to 256 characters.") {
		t.Fatalf("overlong password: %d, want the password message\n%s", resp.StatusCode, body)
	}
	resp, body = guest.post(link, url.Values{"password": {"short"}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose a password of 12 to 256 characters.") {
		t.Fatalf("short password: %d, want the password message", resp.StatusCode)
	}
}
