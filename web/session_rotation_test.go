package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/models/modeltest"
)

// An admin's requests already on their way when a re-authentication rotates
// the session id either complete or are told, cleanly, that the session
// changed (htmx retries them): never a 500, never a sign-out. The clock is
// moved so that every request also refreshes the session's last-seen time,
// the write that raced the rotation before.
func TestSessionRotationUnderLoad(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		base, _ := url.Parse(ts.URL)
		oldCookies := c.http.Jar.Cookies(base)
		csrf := c.csrf()
		ts.Store.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })

		const inFlight = 16
		start := make(chan struct{})
		statuses := make(chan *http.Response, inFlight)
		var wg sync.WaitGroup
		for range inFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// A request the browser sent with the old cookie.
				stale := ts.newClient(t)
				stale.http.Jar.SetCookies(base, oldCookies)
				<-start
				resp, _ := stale.do(http.MethodGet, "/general/api-keys", nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
				statuses <- resp
			}()
		}
		close(start)
		reauth(t, c, modeltest.Password)
		wg.Wait()
		close(statuses)
		changed := 0
		for resp := range statuses {
			switch {
			case resp.StatusCode == http.StatusOK:
			case resp.StatusCode == http.StatusConflict && resp.Header.Get("X-Keydesk-Session-Changed") == "retry":
				changed++
			default:
				t.Fatalf("in-flight request during rotation: status %d (want 200, or 409 with the retry header)", resp.StatusCode)
			}
		}

		// After the rotation, the old id answers "session changed", never a
		// sign-out, and signs nobody in.
		stale := ts.newClient(t)
		stale.http.Jar.SetCookies(base, oldCookies)
		resp, _ := stale.do(http.MethodPost, "/general/api-keys/1/inactivate", url.Values{}, map[string]string{"HX-Request": "true", "X-CSRF-Token": csrf})
		if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Keydesk-Session-Changed") != "retry" {
			t.Fatalf("old session id after rotation: status %d, header %q", resp.StatusCode, resp.Header.Get("X-Keydesk-Session-Changed"))
		}
		resp, _ = stale.do(http.MethodGet, "/general/api-keys", nil, nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("page load with the old id: status %d to %q (want 303 to sign in)", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The rotated session itself works.
		if resp, _ := c.htmx(http.MethodGet, "/general/api-keys", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("new session after rotation: %d", resp.StatusCode)
		}
		t.Logf("%d of %d in-flight requests were told the session changed", changed, inFlight)
	})
}
