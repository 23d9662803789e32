package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// invite sends the Invite admin form as c and returns the link's path.
func invite(t *testing.T, c *client, email, access string, modules ...string) string {
	t.Helper()
	resp, body := c.post("/general/admins/invite", url.Values{"email": {email}, "access": {access}, "modules": modules})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invite %s: status %d\n%s", email, resp.StatusCode, body)
	}
	link := strings.TrimSpace(parseHTML(t, body).Find("#invite-link").Text())
	i := strings.Index(link, "/invite/")
	if i < 0 {
		t.Fatalf("no invitation link on the page: %q", link)
	}
	return link[i:]
}

func TestInvitationLifecycle(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		link := invite(t, full, "new.admin@example.test", "limited", "audit_trail")

		// Only the digest is stored.
		var digests []string
		ts.Store.DB.Raw(`SELECT digest FROM invitations`).Scan(&digests)
		if len(digests) != 1 || strings.Contains(link, digests[0]) {
			t.Fatalf("invitation storage: %v", digests)
		}

		guest := ts.newClient(t)
		resp, body := guest.get(link)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Set password") || !strings.Contains(body, "New password") {
			t.Fatalf("invite page: %d\n%s", resp.StatusCode, body)
		}
		if resp, _ := guest.post(link, url.Values{"password": {"short"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("weak password: status %d", resp.StatusCode)
		}
		resp, _ = guest.post(link, url.Values{"password": {modeltest.Password}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/general/audit-trail" {
			t.Fatalf("accept: status %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp, _ := guest.get("/general/audit-trail"); resp.StatusCode != http.StatusOK {
			t.Fatalf("the new admin is not signed in: %d", resp.StatusCode)
		}
		// Reuse: the link works once.
		other := ts.newClient(t)
		if resp, body := other.post(link, url.Values{"password": {"another long password"}}); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not valid") {
			t.Fatalf("reused link: status %d", resp.StatusCode)
		}
		// The new admin joined this program only.
		admin, err := ts.Store.Accounts.Authenticate(t.Context(), "new.admin@example.test", modeltest.Password, audit.Actor{})
		if err != nil {
			t.Fatal(err)
		}
		ms, _ := ts.Store.Accounts.Memberships(t.Context(), admin.ID)
		if len(ms) != 1 || ms[0].Program.ID != ts.Demo.Program.ID || ms[0].Membership.Access != "limited" || ms[0].Membership.Modules != "audit_trail" {
			t.Fatalf("memberships: %+v", ms)
		}

		// Wrong program: another program's admin cannot revoke it, nor see it.
		inv, token, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{}, ts.Demo.Program.ID, "pending@example.test", "full", nil)
		if err != nil {
			t.Fatal(err)
		}
		otherFull := ts.loggedIn(t, ts.Other.Full.Email)
		if resp, _ := otherFull.post("/general/admins/invitations/"+itoa(inv.ID)+"/revoke", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("another program's invitation revoked: %d", resp.StatusCode)
		}
		if _, body := otherFull.get("/general/admins"); strings.Contains(body, "pending@example.test") || strings.Contains(body, "new.admin@example.test") {
			t.Fatal("another program's admins are listed")
		}
		if _, body := full.get("/general/admins"); !strings.Contains(body, "pending@example.test") || !strings.Contains(body, "new.admin@example.test") {
			t.Fatal("the program's pending invitation or new admin is not listed")
		}

		// Expiry: 72 hours.
		start := time.Now()
		ts.Store.SetClock(func() time.Time { return start.Add(accounts.InvitationLifetime + time.Minute) })
		if resp, _ := ts.newClient(t).get("/invite/" + token); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("expired link: status %d", resp.StatusCode)
		}
		ts.Store.SetClock(time.Now)

		// Revoked links stop working.
		if resp, _ := full.post("/general/admins/invitations/"+itoa(inv.ID)+"/revoke", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if resp, _ := ts.newClient(t).get("/invite/" + token); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("revoked link: status %d", resp.StatusCode)
		}
		// An existing account joins with its own password, never a new one.
		_, token2, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{}, ts.Other.Program.ID, "new.admin@example.test", "full", nil)
		if err != nil {
			t.Fatal(err)
		}
		g2 := ts.newClient(t)
		if resp, body := g2.get("/invite/" + token2); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Join program") {
			t.Fatalf("existing account's invite page: %d", resp.StatusCode)
		}
		if resp, _ := g2.post("/invite/"+token2, url.Values{"password": {"an attacker's new password"}}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password accepted for an existing account: %d", resp.StatusCode)
		}
		if resp, _ := g2.post("/invite/"+token2, url.Values{"password": {modeltest.Password}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("existing account join: %d", resp.StatusCode)
		}
		got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " ")
		for _, want := range []string{"admin.invited:success", "admin.invitation_accepted:success", "admin.invitation_revoked:success"} {
			if !strings.Contains(got, want) {
				t.Errorf("audit lacks %s: %s", want, got)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestRemoveAdminEndsSessions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		full := ts.loggedIn(t, ts.Demo.Full.Email)
		support := ts.loggedIn(t, ts.Demo.Support.Email)
		support2 := ts.loggedIn(t, ts.Demo.Support.Email)
		if resp, _ := support.get("/general/audit-trail"); resp.StatusCode != http.StatusOK {
			t.Fatalf("support before removal: %d", resp.StatusCode)
		}
		id := itoa(ts.Demo.Support.ID)
		if resp, body := full.get("/general/admins/" + id + "/remove"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Remove") {
			t.Fatalf("confirm page: %d", resp.StatusCode)
		}
		// Another program's full admin gets a 404 for this admin.
		if resp, _ := ts.loggedIn(t, ts.Other.Full.Email).post("/general/admins/"+id+"/remove", nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("foreign removal: %d", resp.StatusCode)
		}
		if resp, _ := full.post("/general/admins/"+id+"/remove", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("remove: %d", resp.StatusCode)
		}
		for _, c := range []*client{support, support2} {
			resp, _ := c.get("/general/audit-trail")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Fatalf("removed admin's session still works: %d", resp.StatusCode)
			}
		}
		var n int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM sessions WHERE admin_id = ?`, ts.Demo.Support.ID).Scan(&n)
		if n != 0 {
			t.Fatalf("%d sessions left", n)
		}
		if got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " "); !strings.Contains(got, "admin.removed:success") {
			t.Fatalf("removal not audited: %s", got)
		}
	})
}

func TestLastFullAdminUnderConcurrency(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		// The only full admin can be neither demoted nor removed.
		a := ts.loggedIn(t, ts.Demo.Full.Email)
		self := itoa(ts.Demo.Full.ID)
		if resp, _ := a.post("/general/admins/"+self+"/access", url.Values{"access": {"limited"}}); resp.StatusCode != http.StatusConflict {
			t.Fatalf("last full admin demoted: %d", resp.StatusCode)
		}
		if resp, _ := a.post("/general/admins/"+self+"/remove", nil); resp.StatusCode != http.StatusConflict {
			t.Fatalf("last full admin removed: %d", resp.StatusCode)
		}
		for round, action := range []string{"remove", "access"} {
			// Two full admins act on each other at once: one must stay.
			second, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Demo.Program.ID, "second"+itoa(int64(round))+"@example.test", modeltest.Password, "full", nil)
			if err != nil {
				t.Fatal(err)
			}
			first := ts.Demo.Full.ID
			ca, cb := ts.loggedIn(t, ts.Demo.Full.Email), ts.loggedIn(t, second.Email)
			ca.csrf()
			cb.csrf()
			var wg sync.WaitGroup
			start := make(chan struct{})
			codes := make([]int, 2)
			for i, job := range []struct {
				c      *client
				target int64
			}{{ca, second.ID}, {cb, first}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					resp, _ := job.c.post("/general/admins/"+itoa(job.target)+"/"+action, url.Values{"access": {"limited"}})
					codes[i] = resp.StatusCode
				}()
			}
			close(start)
			wg.Wait()
			var full int64
			ts.Store.DB.Raw(`SELECT COUNT(*) FROM memberships WHERE program_id = ? AND access = 'full'`, ts.Demo.Program.ID).Scan(&full)
			if full != 1 {
				t.Fatalf("%s: %d full admins left (statuses %v)", action, full, codes)
			}
			// One succeeds; the other is refused: 409 when it saw the
			// other's change, or 401/403 when its own access went first.
			if (codes[0] == http.StatusSeeOther) == (codes[1] == http.StatusSeeOther) {
				t.Fatalf("%s: want exactly one success, got %v", action, codes)
			}
			// Put the program back: the fixture's admin is full again.
			var survivor int64
			ts.Store.DB.Raw(`SELECT admin_id FROM memberships WHERE program_id = ? AND access = 'full'`, ts.Demo.Program.ID).Scan(&survivor)
			if survivor != first {
				if action == "access" {
					ts.Store.DB.Exec(`UPDATE memberships SET access = 'full', modules = '' WHERE admin_id = ? AND program_id = ?`, first, ts.Demo.Program.ID)
				} else {
					ts.Store.DB.Exec(`INSERT INTO memberships (program_id, admin_id, access, modules, created_at) VALUES (?, ?, 'full', '', ?)`, ts.Demo.Program.ID, first, time.Now())
				}
				ts.Store.DB.Exec(`DELETE FROM memberships WHERE admin_id = ?`, survivor)
			} else {
				ts.Store.DB.Exec(`DELETE FROM memberships WHERE admin_id = ?`, second.ID)
			}
		}
		if got := strings.Join(ts.auditActions(t, ts.Demo.Program.ID), " "); !strings.Contains(got, "admin.access_changed:success") || !strings.Contains(got, "admin.removed:success") {
			t.Fatalf("audit: %s", got)
		}
	})
}
