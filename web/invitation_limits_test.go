package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// inviteAtOnce sends n Invite admin forms at the same moment and counts
// the answers by status.
func inviteAtOnce(t *testing.T, ts *testServer, c *client, n int, prefix string) map[int]int {
	t.Helper()
	token := c.csrf()
	reqs := make([]*http.Request, n)
	for i := range n {
		reqs[i] = mustRequest(t, ts.URL+"/general/admins/invite", url.Values{"email": {fmt.Sprintf("%s%d@example.test", prefix, i)}, "access": {"limited"}}, token)
	}
	return sendAtOnce(c, reqs)
}

func pendingInvitations(t *testing.T, ts *testServer) int64 {
	t.Helper()
	var n int64
	if err := ts.Store.DB.Raw(`SELECT COUNT(*) FROM invitations WHERE program_id = ? AND accepted_at IS NULL AND revoked_at IS NULL`, ts.Demo.Program.ID).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInvitationCapsHoldUnderSimultaneousInvites: simultaneous invitations
// through the router pass neither MaxInvitationsPerMinute nor
// MaxPendingInvitations; refusals answer 429 (with Retry-After) or 409 with
// the reason, are audited, and at the pending cap the page says "20 of 20"
// and disables Send invite with the reason. Revoking does not make room
// within the same minute.
func TestInvitationCapsHoldUnderSimultaneousInvites(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		perMinute, pendingCap := accounts.MaxInvitationsPerMinute, accounts.MaxPendingInvitations

		got := inviteAtOnce(t, ts, c, 25, "first")
		if got[http.StatusOK] != perMinute || got[http.StatusTooManyRequests] != 25-perMinute {
			t.Fatalf("first minute: statuses %v, want %d × 200 and %d × 429", got, perMinute, 25-perMinute)
		}
		if n := pendingInvitations(t, ts); n != int64(perMinute) {
			t.Fatalf("%d invitations after the first minute", n)
		}
		resp, body := c.post("/general/admins/invite", url.Values{"email": {"one.more@example.test"}, "access": {"full"}})
		alert := parseHTML(t, body).Find("[role=alert]").Text()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(alert, "10 invitations were sent in the last minute, the most allowed") {
			t.Fatalf("rate refusal: status %d, Retry-After %q, alert %q", resp.StatusCode, resp.Header.Get("Retry-After"), alert)
		}
		// A revoked invitation still counts toward the minute.
		invs, err := ts.Store.Accounts.PendingInvitations(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.Store.Accounts.RevokeInvitation(t.Context(), audit.Actor{}, ts.Demo.Program.ID, invs[0].ID); err != nil {
			t.Fatal(err)
		}
		if resp, _ := c.post("/general/admins/invite", url.Values{"email": {"after.revoke@example.test"}, "access": {"full"}}); resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("revoking made room within the minute: %d", resp.StatusCode)
		}

		// Minutes later the rate allows more, up to the pending cap.
		ts.Store.SetClock(func() time.Time { return time.Now().Add(61 * time.Second) })
		got = inviteAtOnce(t, ts, c, 25, "second")
		if got[http.StatusOK] != perMinute {
			t.Fatalf("second minute: statuses %v", got)
		}
		ts.Store.SetClock(func() time.Time { return time.Now().Add(122 * time.Second) })
		got = inviteAtOnce(t, ts, c, 25, "third")
		wantOK := pendingCap - (2*perMinute - 1)
		if got[http.StatusOK] != wantOK || got[http.StatusConflict] != 25-wantOK {
			t.Fatalf("third minute: statuses %v, want %d × 200 and %d × 409", got, wantOK, 25-wantOK)
		}
		if n := pendingInvitations(t, ts); n != int64(pendingCap) {
			t.Fatalf("%d pending invitations, the cap is %d", n, pendingCap)
		}
		var refusals int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?`,
			ts.Demo.Program.ID, audit.ActionAdminInvited, audit.OutcomeRefused).Scan(&refusals)
		if want := int64(15 + 2 + 15 + 25 - wantOK); refusals != want {
			t.Fatalf("%d refusals audited, want %d", refusals, want)
		}

		_, body = c.get("/general/admins")
		doc := parseHTML(t, body)
		if count := strings.TrimSpace(doc.Find("[data-invitation-count]").Text()); count != "20 of 20" {
			t.Fatalf("count shown %q", count)
		}
		btn := doc.Find(`form[action="/general/admins/invite"] button[type=submit]`)
		_, disabled := btn.Attr("disabled")
		if reason := doc.Find("#invitation-limit-reason").Text(); !disabled || !strings.Contains(reason, "20 pending invitations, the most allowed") {
			t.Fatalf("at the cap: button disabled %v, reason %q", disabled, reason)
		}
		resp, body = c.post("/general/admins/invite", url.Values{"email": {"forged@example.test"}, "access": {"full"}})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(parseHTML(t, body).Find("[role=alert]").Text(), "already has 20 pending invitations") {
			t.Fatalf("over the pending cap: status %d", resp.StatusCode)
		}
		// Another program has its own caps.
		oc := ts.loggedIn(t, ts.Other.Full.Email)
		invite(t, oc, "elsewhere@example.test", "full")
	})
}
