package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// lastEvent is the program's latest audit event.
func lastEvent(t *testing.T, ts *testServer, programID int64) audit.Event {
	t.Helper()
	var e audit.Event
	if err := ts.Store.DB.Where("program_id = ?", programID).Order("seq DESC").Take(&e).Error; err != nil {
		t.Fatal(err)
	}
	return e
}

// A member created through the API is in the program's trail, with the
// calling key's identifier as the actor and never a secret; a refused
// creation leaves no event.
func TestAPIMemberCreationIsAudited(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		h := restHeaders(demo.PartnerID, secret)
		h["User-Agent"] = "shop-sync/1.0"
		r := apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"ana-1","email":"ana@example.com","first_name":"Ana"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Raw)
		}
		e := lastEvent(t, ts, demo.ID)
		if e.Action != "member.created" || e.Outcome != audit.OutcomeSuccess || e.TargetType != "member" || e.TargetID != "ana-1" {
			t.Fatalf("event %+v", e)
		}
		if e.ActorID != 0 || !strings.Contains(e.ActorEmail, k.Identifier) || e.UserAgent != "shop-sync/1.0" || e.IP == "" || e.RequestID == "" {
			t.Fatalf("actor of the event: id %d, %q, ip %q, ua %q, request %q", e.ActorID, e.ActorEmail, e.IP, e.UserAgent, e.RequestID)
		}
		for _, field := range []string{e.ActorEmail, e.TargetName, e.Details, e.UserAgent} {
			if strings.Contains(field, secret) {
				t.Fatal("the API key is in the audit event")
			}
		}
		if _, brk, err := ts.Store.Audit.VerifyChain(t.Context(), demo.ID); err != nil || brk != nil {
			t.Fatalf("chain after the API's event: %+v %v", brk, err)
		}
		// Refused creations (duplicate, invalid) are not member.created events.
		before := ts.auditActions(t, demo.ID)
		apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"ana-1","email":"ana@example.com"}`)
		apiCall(t, ts.URL, "POST", "/v2/loyalty/members", h, `{"member_id":"bad id","email":"x"}`)
		if after := ts.auditActions(t, demo.ID); !slices.Equal(before, after) {
			t.Fatalf("refused creations were audited: %v → %v", before, after)
		}
		// The other program's trail does not see it.
		if slices.Contains(ts.auditActions(t, ts.Other.Program.ID), "member.created:success") {
			t.Fatal("the member's event is in another program's trail")
		}
	})
}

// Switching the program the console acts on is audited in the program
// switched to, by the admin who switched.
func TestSwitchProgramIsAudited(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		admin := ts.Demo.Full
		if _, err := ts.Store.Accounts.CreateAdmin(t.Context(), audit.Actor{}, ts.Other.Program.ID, admin.Email, "ignored for an existing account", accounts.AccessLimited, []string{accounts.ModuleAuditTrail}); err != nil {
			t.Fatal(err)
		}
		c := ts.loggedIn(t, admin.Email)
		resp, _ := c.post("/session/program", url.Values{"partner_id": {ts.Other.Program.PartnerID}})
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch: %d", resp.StatusCode)
		}
		e := lastEvent(t, ts, ts.Other.Program.ID)
		if e.Action != "session.program_switched" || e.Outcome != audit.OutcomeSuccess || e.ActorID != admin.ID || e.ActorEmail != admin.Email ||
			e.TargetType != audit.TargetProgram || e.TargetID != ts.Other.Program.PartnerID || e.IP == "" {
			t.Fatalf("event %+v", e)
		}
		// Back to the first program: audited there.
		if resp, _ := c.post("/session/program", url.Values{"partner_id": {ts.Demo.Program.PartnerID}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("switch back: %d", resp.StatusCode)
		}
		if e := lastEvent(t, ts, ts.Demo.Program.ID); e.Action != "session.program_switched" || e.TargetID != ts.Demo.Program.PartnerID {
			t.Fatalf("switch back: event %+v", e)
		}
		// The support staff of the program read it on the Audit Trail page.
		sc := ts.loggedIn(t, ts.Other.Support.Email)
		_, body := sc.get("/general/audit-trail")
		if !strings.Contains(body, "Switched program") {
			t.Fatal("the audit trail page does not show the switch")
		}
		// A refused switch (not a member) changes nothing and is no switch event.
		before := ts.auditActions(t, ts.Demo.Program.ID)
		if resp, _ := c.post("/session/program", url.Values{"partner_id": {"ffffffffff"}}); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("foreign switch: %d", resp.StatusCode)
		}
		if after := ts.auditActions(t, ts.Demo.Program.ID); slices.Contains(after[len(before):], "session.program_switched:success") {
			t.Fatal("a refused switch was audited as a switch")
		}
	})
}
