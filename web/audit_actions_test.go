package web_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// The Audit Trail's action filter is the action table: every action once,
// grouped and sorted (audit.ActionGroups), in words; a row stored as api_key.edited by an earlier
// release is listed and labelled with today's api_key.updated, and an old
// link filtering api_key.edited keeps working.
func TestAuditTrailActionFilterIsTheActionTable(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	shop, _ := auditSeedKeys(t, ts)
	if err := ts.Store.Audit.Record(t.Context(), ts.Demo.Program.ID, audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, audit.Entry{
		Action: audit.LegacyActionKeyEdited, TargetType: audit.TargetAPIKey, TargetID: shop.Identifier, TargetName: shop.Name,
	}); err != nil {
		t.Fatal(err)
	}
	c := ts.loggedIn(t, ts.Demo.Support.Email)

	doc, _, _ := auditGet(t, c, nil)
	var names, labels []string
	doc.Find(`select[name=action] option`).Each(func(_ int, s *goquery.Selection) {
		if v := s.AttrOr("value", ""); v != "" {
			names, labels = append(names, v), append(labels, strings.TrimSpace(s.Text()))
		}
	})
	// In the order of the groups (issue 28 item 12: grouped, sorted).
	var want, wantLabels []string
	for _, g := range audit.ActionGroups() {
		for _, a := range g.Actions {
			want, wantLabels = append(want, a.Name), append(wantLabels, a.Label)
		}
	}
	if !slices.Equal(names, want) || !slices.Equal(labels, wantLabels) {
		t.Fatalf("action filter offers %v %v, want the table by groups %v %v", names, labels, want, wantLabels)
	}
	var table []string
	for _, a := range audit.ActionTable {
		table = append(table, a.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(names)), slices.Sorted(slices.Values(table))) {
		t.Fatalf("action filter offers %v, want every action of the table once", names)
	}

	for _, action := range []string{audit.ActionKeyUpdated, audit.LegacyActionKeyEdited} {
		doc, actions, _ := auditGet(t, c, url.Values{"action": {action}, "period": {"all"}})
		if got := doc.Find(`select[name=action] option[selected]`).AttrOr("value", ""); got != audit.ActionKeyUpdated {
			t.Errorf("action=%s selects %q", action, got)
		}
		if !slices.Equal(actions, []string{audit.LegacyActionKeyEdited, audit.ActionKeyUpdated}) {
			t.Errorf("action=%s lists %v", action, actions)
		}
		legacy := doc.Find(`#audit-events > li[data-action="api_key.edited"]`)
		if !strings.Contains(legacy.Text(), "API key edited") {
			t.Errorf("action=%s: the api_key.edited row is not labelled as an edit: %q", action, legacy.Text())
		}
	}
}
