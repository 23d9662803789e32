package web_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// clientFrom is a browser-like client whose connections leave from a given
// loopback address, so the server (which trusts no proxy header) sees
// distinct client addresses.
func (ts *testServer) clientFrom(t *testing.T, ip string) *client {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	transport := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	return &client{t: t, ts: ts, http: &http.Client{
		Jar:           jar,
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type raceResult struct {
	status  int
	trigger string
	body    string
	err     error
}

// raceRequests sends n requests at once (every goroutine waits at the start
// line); build returns the client and request of the i-th.
func raceRequests(n int, build func(i int) (*client, *http.Request)) []raceResult {
	results := make([]raceResult, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		c, req := build(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.http.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			results[i] = raceResult{status: resp.StatusCode, trigger: resp.Header.Get("HX-Trigger"), body: string(b)}
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// formRequest is a POST as the page's form (or htmx) sends it.
func (c *client) formRequest(path string, form url.Values, htmx bool) *http.Request {
	c.t.Helper()
	token := c.csrf()
	if form == nil {
		form = url.Values{}
	}
	if !htmx {
		form.Set("_csrf", token)
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, c.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if htmx {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("X-CSRF-Token", token)
	}
	return req
}

func statusCounts(t *testing.T, results []raceResult) map[int]int {
	t.Helper()
	counts := map[int]int{}
	for _, r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		counts[r.status]++
	}
	return counts
}

// Issue 11.1: twelve simultaneous wrong passwords for one account through
// the router: five are checked, the rest throttled.
func TestSignInConcurrentAttemptsAreThrottled(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		results := raceRequests(12, func(int) (*client, *http.Request) {
			c := ts.newClient(t)
			return c, c.formRequest("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}}, false)
		})
		counts := statusCounts(t, results)
		if counts[http.StatusUnauthorized] != 5 || counts[http.StatusTooManyRequests] != 7 {
			t.Fatalf("12 simultaneous wrong passwords: %v, want 5×401 and 7×429", counts)
		}
		resp, _ := ts.newClient(t).post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}})
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("right password after the race: %d, want 429", resp.StatusCode)
		}
	})
}

// Issue 11.3: a stranger failing from one address does not lock the owner
// out at another.
func TestSignInStrangerCannotLockOwnerOut(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	stranger := ts.clientFrom(t, "127.0.0.2")
	for i := range 5 {
		resp, _ := stranger.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {"wrong password!"}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("stranger attempt %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := stranger.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-in attempts") {
		t.Fatalf("stranger's sixth attempt: %d", resp.StatusCode)
	}
	owner := ts.clientFrom(t, "127.0.0.3")
	owner.login(ts.Demo.Full.Email)
	var details string
	ts.Store.DB.Raw(`SELECT details FROM audit_events WHERE program_id = ? AND action = ? AND ip = ? ORDER BY seq DESC LIMIT 1`, ts.Demo.Program.ID, audit.ActionSignInFailed, "127.0.0.2").Scan(&details)
	if !strings.Contains(details, `"limit":"account_ip"`) {
		t.Fatalf("throttled sign-in audited without its limit: %s", details)
	}
}

// Issue 11.2: twelve simultaneous re-authentications with wrong passwords:
// five are checked, the lock comes, and the right password is then refused.
func TestReauthConcurrentAttemptsLock(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		results := raceRequests(12, func(int) (*client, *http.Request) {
			return c, c.formRequest("/general/reauth", url.Values{"password": {"wrong password!"}}, true)
		})
		if counts := statusCounts(t, results); counts[http.StatusOK] != 12 {
			t.Fatalf("reauth statuses: %v", counts)
		}
		var evaluated int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?`, ts.Demo.Program.ID, audit.ActionReauthFailed, audit.OutcomeFailure).Scan(&evaluated)
		if evaluated != 5 {
			t.Fatalf("%d wrong passwords evaluated, want 5", evaluated)
		}
		if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "locked") || strings.Contains(got, "reauthenticated") {
			t.Fatalf("right password after the race: %s", got)
		}
	})
}

// revealRequest asks for a key's secret, as the eye (or copy) button does.
func revealRequest(c *client, id int64, copied bool) *http.Request {
	action := "reveal"
	if copied {
		action = "copy"
	}
	return c.formRequest(fmt.Sprintf("/general/api-keys/%d/%s", id, action), nil, true)
}

func revealed(t *testing.T, c *client, id int64) bool {
	t.Helper()
	resp, err := c.http.Do(revealRequest(c, id, false))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required")
}

// Issue 11.5a: a lock closes an open re-authentication window at once.
func TestReauthLockClosesOpenWindow(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		generate(t, c, "k")
		id := keyByName(t, ts, ts.Demo.Program.ID, "k").ID
		reauth(t, c, modeltest.Password)
		if !revealed(t, c, id) {
			t.Fatal("reveal refused inside the window")
		}
		// Someone at this session guesses wrong five times: the lock
		// must end the window that is still open.
		for range 5 {
			reauth(t, c, "wrong password!")
		}
		if revealed(t, c, id) {
			t.Fatal("reveal still allowed after the lock")
		}
	})
}

// Issue 11.5b: with a zero window one confirmation releases exactly one
// secret, even when reveals and copies race.
func TestZeroWindowReleasesOneSecretPerConfirmation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withReauthWindow(0))
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		var ids []int64
		var secrets []string
		for _, name := range []string{"a", "b", "c"} {
			generate(t, c, name)
			k := keyByName(t, ts, ts.Demo.Program.ID, name)
			ids = append(ids, k.ID)
			secrets = append(secrets, secretOf(t, ts, k))
		}
		if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "reauthenticated") {
			t.Fatalf("reauth: %s", got)
		}
		results := raceRequests(10, func(i int) (*client, *http.Request) {
			return c, revealRequest(c, ids[i%3], i%2 == 1)
		})
		released := 0
		for _, r := range results {
			if r.err != nil {
				t.Fatal(r.err)
			}
			for _, s := range secrets {
				if strings.Contains(r.body, s) {
					released++
				}
			}
		}
		if released != 1 {
			t.Fatalf("one confirmation released %d secrets, want 1", released)
		}
	})
}

// Issue 11.5c: the window belongs to the program it was confirmed in.
func TestReauthWindowBelongsToProgram(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		if _, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Other.Program.ID, ts.Demo.Full.Email, modeltest.Password, accounts.AccessFull, nil); err != nil {
			t.Fatal(err)
		}
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, _ := c.post("/session/program", url.Values{"partner_id": {ts.Other.Program.PartnerID}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch to Other: %d", resp.StatusCode)
		}
		generate(t, c, "other key")
		otherID := keyByName(t, ts, ts.Other.Program.ID, "other key").ID
		resp, _ = c.post("/session/program", url.Values{"partner_id": {ts.Demo.Program.PartnerID}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch to Demo: %d", resp.StatusCode)
		}
		reauth(t, c, modeltest.Password)
		resp, _ = c.post("/session/program", url.Values{"partner_id": {ts.Other.Program.PartnerID}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch back to Other: %d", resp.StatusCode)
		}
		if revealed(t, c, otherID) {
			t.Fatal("a confirmation given in Demo Store revealed a key of Other Store")
		}
		reauth(t, c, modeltest.Password)
		if !revealed(t, c, otherID) {
			t.Fatal("reveal refused after confirming in Other Store")
		}
	})
}
