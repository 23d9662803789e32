package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// count is how many of the raced requests came back without a transport
// error and pass ok.
func count(results []raceResult, ok func(raceResult) bool) int {
	n := 0
	for _, r := range results {
		if r.err == nil && ok(r) {
			n++
		}
	}
	return n
}

// Issue 21 item 10: with a zero window, opening the Roll dialog does not
// spend the one confirmation: one password, then the dialog, then the roll
// shows the new secret; the next secret-releasing action asks again.
func TestZeroWindowRollNeedsOneConfirmation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withReauthWindow(0))
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		generate(t, c, "rolled")
		k := keyByName(t, ts, ts.Demo.Program.ID, "rolled")
		id := fmt.Sprint(k.ID)
		if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "reauthenticated") {
			t.Fatalf("reauth: %s", got)
		}
		resp, body := c.htmx(http.MethodGet, "/general/api-keys/"+id+"/roll", nil)
		if strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || !strings.Contains(body, "old_key_stops") {
			t.Fatalf("the Roll dialog after confirming: %d %s %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		// A refused form (no choice) spends nothing either.
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/roll", url.Values{"old_key_stops": {"never"}})
		if strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || !strings.Contains(body, "Choose when the old key stops working.") {
			t.Fatalf("an invalid roll: %d %s %s", resp.StatusCode, resp.Header.Get("HX-Trigger"), body)
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/roll", url.Values{"old_key_stops": {"now"}})
		if strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
			t.Fatalf("the roll asked for the password again: %s", resp.Header.Get("HX-Trigger"))
		}
		newSecret := secretOf(t, ts, keyByName(t, ts, ts.Demo.Program.ID, "rolled"))
		if newSecret == secretOf(t, ts, k) || !strings.Contains(body, newSecret) {
			t.Fatalf("the roll did not show the new secret: %d %s", resp.StatusCode, body)
		}
		if revealed(t, c, k.ID) {
			t.Fatal("one confirmation released a second secret (reveal after the roll)")
		}
		resp, _ = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/roll", url.Values{"old_key_stops": {"now"}})
		if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
			t.Fatal("a second roll did not ask for the password")
		}

		// Simultaneous rolls after one confirmation: exactly one rolls.
		reauth(t, c, modeltest.Password)
		results := raceRequests(5, func(int) (*client, *http.Request) {
			form := url.Values{"old_key_stops": {"now"}}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/general/api-keys/"+id+"/roll", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			req.Header.Set("X-CSRF-Token", c.csrf())
			return c, req
		})
		if got := count(results, func(r raceResult) bool {
			return strings.Contains(r.body, "rolled.") || strings.Contains(r.trigger, "rolled.")
		}); got != 1 {
			t.Fatalf("%d simultaneous rolls after one confirmation, want 1", got)
		}
	})
}
