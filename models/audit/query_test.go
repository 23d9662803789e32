package audit_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata"

	"keydesk/models/audit"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// auditClock is a settable clock for the store.
type auditClock struct{ now time.Time }

func (c *auditClock) Now() time.Time { return c.now }

// auditTrailFixture is a program with keys and events spread over time, and
// another program whose events look alike.
type auditTrailFixture struct {
	store  *modeltest.Stores
	clock  *auditClock
	alpha  modeltest.Fixture
	beta   modeltest.Fixture
	shop   *keys.APIKey // "Shopify sync", renamed from "Shop"
	erp    *keys.APIKey // "Legacy ERP", deleted
	erpID  string
	marker string // a target name containing LIKE wildcards
}

var auditNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func newAuditTrailFixture(t *testing.T, db modeltest.Database) *auditTrailFixture {
	t.Helper()
	store := modeltest.NewStores(t, db)
	clock := &auditClock{now: auditNow.Add(-40 * 24 * time.Hour)}
	store.SetClock(clock.Now)
	fx := &auditTrailFixture{store: store, clock: clock, marker: "50%_off"}
	fx.alpha = modeltest.Seed(t, store, "Alpha")
	fx.beta = modeltest.Seed(t, store, "Beta")
	full := audit.Actor{AdminID: fx.alpha.Full.ID, Email: fx.alpha.Full.Email, IP: "198.51.100.7"}
	must := func(k *keys.APIKey, err error) *keys.APIKey {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// 40 days ago: program and admins (Seed), then 10 days ago the keys.
	clock.now = auditNow.Add(-10 * 24 * time.Hour)
	fx.shop = must(store.Keys.Generate(t.Context(), fx.alpha.Program.ID, full, keys.KeyInput{Name: "Shop"}))
	fx.erp = must(store.Keys.Generate(t.Context(), fx.alpha.Program.ID, full, keys.KeyInput{Name: "Legacy ERP"}))
	fx.erpID = fx.erp.Identifier
	// 3 days ago: the shop key is renamed; the ERP key inactivated and deleted.
	clock.now = auditNow.Add(-3 * 24 * time.Hour)
	fx.shop = must(store.Keys.Update(t.Context(), fx.alpha.Program.ID, full, fx.shop.ID, keys.KeyInput{Name: "Shopify sync", Description: "orders"}))
	must(store.Keys.SetActive(t.Context(), fx.alpha.Program.ID, full, fx.erp.ID, false))
	must(store.Keys.Delete(t.Context(), fx.alpha.Program.ID, full, fx.erp.ID))
	// 2 hours ago: the support admin downloads; something with wildcards.
	clock.now = auditNow.Add(-2 * time.Hour)
	support := audit.Actor{AdminID: fx.alpha.Support.ID, Email: fx.alpha.Support.Email}
	if err := store.Audit.Record(t.Context(), fx.alpha.Program.ID, support, audit.Entry{Action: audit.ActionAuditDownloaded, TargetType: "audit_trail", TargetName: "CSV download"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Audit.Record(t.Context(), fx.alpha.Program.ID, support, audit.Entry{Action: audit.ActionAccessRefused, TargetType: "route", TargetName: fx.marker}); err != nil {
		t.Fatal(err)
	}
	if err := store.Audit.Record(t.Context(), fx.alpha.Program.ID, support, audit.Entry{Action: audit.ActionAccessRefused, TargetType: "route", TargetName: "500 off"}); err != nil {
		t.Fatal(err)
	}
	// The other program has keys of the same names and the same actions.
	bfull := audit.Actor{AdminID: fx.beta.Full.ID, Email: fx.beta.Full.Email}
	bshop := must(store.Keys.Generate(t.Context(), fx.beta.Program.ID, bfull, keys.KeyInput{Name: "Shopify sync"}))
	must(store.Keys.SetActive(t.Context(), fx.beta.Program.ID, bfull, bshop.ID, false))
	if err := store.Audit.Record(t.Context(), fx.beta.Program.ID, bfull, audit.Entry{Action: audit.ActionAccessRefused, TargetName: fx.marker}); err != nil {
		t.Fatal(err)
	}
	clock.now = auditNow
	return fx
}

// list returns the actions of every alpha event matching in, newest first.
func (fx *auditTrailFixture) list(t *testing.T, in audit.FilterInput) []audit.Event {
	t.Helper()
	f, err := in.Resolve(auditNow)
	if err != nil {
		t.Fatalf("resolve %+v: %v", in, err)
	}
	page, err := fx.store.Audit.List(context.Background(), fx.alpha.Program.ID, f, audit.PageRequest{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range page.Events {
		if e.ProgramID != fx.alpha.Program.ID {
			t.Fatalf("event #%d of program %d listed for program %d", e.ID, e.ProgramID, fx.alpha.Program.ID)
		}
		if i > 0 {
			prev := page.Events[i-1]
			if e.OccurredAt.After(prev.OccurredAt) || (e.OccurredAt.Equal(prev.OccurredAt) && e.ID > prev.ID) {
				t.Fatalf("events not newest first at %d", i)
			}
		}
	}
	return page.Events
}

func auditActionsOf(events []audit.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		fx := newAuditTrailFixture(t, db)
		all := fx.list(t, audit.FilterInput{Period: audit.PeriodAll})
		// program + 3 admins + 2 generated + edit + inactivate + delete + 3 recent
		if len(all) != 12 {
			t.Fatalf("all time: %d events %v", len(all), auditActionsOf(all))
		}
		count := func(in audit.FilterInput) int { return len(fx.list(t, in)) }

		cases := []struct {
			name string
			in   audit.FilterInput
			want []string
		}{
			{"24h", audit.FilterInput{Period: "24h"}, []string{audit.ActionAccessRefused, audit.ActionAccessRefused, audit.ActionAuditDownloaded}},
			{"7d", audit.FilterInput{Period: "7d"}, []string{audit.ActionAccessRefused, audit.ActionAccessRefused, audit.ActionAuditDownloaded, audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyUpdated}},
			{"default is 30d", audit.FilterInput{}, []string{audit.ActionAccessRefused, audit.ActionAccessRefused, audit.ActionAuditDownloaded, audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyUpdated, audit.ActionKeyGenerated, audit.ActionKeyGenerated}},
			{"action", audit.FilterInput{Period: "all", Action: audit.ActionKeyGenerated}, []string{audit.ActionKeyGenerated, audit.ActionKeyGenerated}},
			{"actor, any case", audit.FilterInput{Period: "all", Actor: "  " + fx.alpha.Support.Email[:1] + "UPPORT" + fx.alpha.Support.Email[7:] + " "}, []string{audit.ActionAccessRefused, audit.ActionAccessRefused, audit.ActionAuditDownloaded}},
			{"key by current name", audit.FilterInput{Period: "all", APIKey: "shopify SYNC"}, []string{audit.ActionKeyUpdated, audit.ActionKeyGenerated}},
			{"key by former name", audit.FilterInput{Period: "all", APIKey: "Shop"}, []string{audit.ActionKeyUpdated, audit.ActionKeyGenerated}},
			{"key by identifier", audit.FilterInput{Period: "all", APIKey: fx.shop.Identifier}, []string{audit.ActionKeyUpdated, audit.ActionKeyGenerated}},
			{"deleted key by name", audit.FilterInput{Period: "all", APIKey: "legacy erp"}, []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyGenerated}},
			{"deleted key by identifier", audit.FilterInput{Period: "all", APIKey: fx.erpID}, []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyGenerated}},
			{"unknown key", audit.FilterInput{Period: "all", APIKey: "nope"}, []string{}},
			{"another program's key", audit.FilterInput{Period: "all", APIKey: "kdi_doesnotexist00"}, []string{}},
			{"search is a substring, any case", audit.FilterInput{Period: "all", Search: "ERP"}, []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyGenerated}},
			{"search wildcards are literal", audit.FilterInput{Period: "all", Search: "50%_"}, []string{audit.ActionAccessRefused}},
			{"combined", audit.FilterInput{Period: "7d", Action: audit.ActionKeyDeleted, Actor: fx.alpha.Full.Email, APIKey: "Legacy ERP", Search: "legacy"}, []string{audit.ActionKeyDeleted}},
			{"combined, no match", audit.FilterInput{Period: "24h", Action: audit.ActionKeyDeleted}, []string{}},
		}
		for _, tc := range cases {
			got := auditActionsOf(fx.list(t, tc.in))
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}

		// Custom range: whole days, inclusive, in the admin's time zone.
		ny, err := time.LoadLocation("America/New_York")
		if err != nil {
			t.Fatal(err)
		}
		threeDaysAgo := auditNow.Add(-3 * 24 * time.Hour) // 2026-03-12 12:00 UTC
		day := threeDaysAgo.Format("2006-01-02")
		if n := count(audit.FilterInput{From: day, To: day}); n != 3 {
			t.Errorf("custom range of one day (UTC): %d events, want 3", n)
		}
		if n := count(audit.FilterInput{Period: "custom", From: day, To: day, Location: ny}); n != 3 {
			t.Errorf("custom range of one day (New York): %d events, want 3", n)
		}
		if n := count(audit.FilterInput{Period: "custom", From: threeDaysAgo.AddDate(0, 0, 1).Format("2006-01-02")}); n != 3 {
			t.Errorf("custom range from a day: %d events, want 3", n)
		}
		if n := count(audit.FilterInput{Period: "custom", To: threeDaysAgo.AddDate(0, 0, -1).Format("2006-01-02")}); n != 6 {
			t.Errorf("custom range up to a day: %d events, want 6", n)
		}
		// The recent events happened at 10:00 UTC on the 15th, which is
		// midnight starting the 16th in Kiritimati (UTC+14): the first
		// instant of a day is inside it.
		kiri, err := time.LoadLocation("Pacific/Kiritimati")
		if err != nil {
			t.Fatal(err)
		}
		if n := count(audit.FilterInput{From: "2026-03-16", To: "2026-03-16", Location: kiri}); n != 3 {
			t.Errorf("custom day in Kiritimati: %d events, want 3", n)
		}
		if n := count(audit.FilterInput{From: "2026-03-16", To: "2026-03-16", Location: ny}); n != 0 {
			t.Errorf("custom day in New York: %d events, want 0", n)
		}
	})
}

func TestAuditFilterValidation(t *testing.T) {
	cases := []struct {
		in    audit.FilterInput
		field string
	}{
		{audit.FilterInput{Period: "1y"}, "period"},
		{audit.FilterInput{From: "15/03/2026"}, "from"},
		{audit.FilterInput{To: "yesterday"}, "to"},
		{audit.FilterInput{From: "2026-03-10", To: "2026-03-09"}, "to"},
		{audit.FilterInput{Action: "api_key.stolen"}, "action"},
		{audit.FilterInput{Search: string(make([]byte, 201))}, "search"},
		{audit.FilterInput{APIKey: "\xff"}, "api_key"},
	}
	for _, tc := range cases {
		_, err := tc.in.Resolve(auditNow)
		var verr input.ValidationError
		if !errors.As(err, &verr) || verr[tc.field] == "" {
			t.Errorf("%+v: got %v, want an error on %s", tc.in, err, tc.field)
		}
	}
	f, err := audit.FilterInput{From: "2026-03-10", To: "2026-03-10"}.Resolve(auditNow)
	if err != nil || f.Period != audit.PeriodCustom {
		t.Fatalf("dates make a custom range: %+v %v", f, err)
	}
	if !f.Since.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) || !f.Until.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("bounds %v – %v", f.Since, f.Until)
	}
}

func TestAuditCursorRoundTrip(t *testing.T) {
	c := audit.Cursor{At: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: 42}
	got, err := audit.ParseCursor(c.String())
	if err != nil || !got.At.Equal(c.At) || got.ID != c.ID {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "1_", "_1", "1_0", "a_b", "-5_3", "1_2_3"} {
		if _, err := audit.ParseCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestAuditKeysetPaging(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		clock := &auditClock{now: auditNow.Add(-time.Hour)}
		store.SetClock(clock.Now)
		fx := modeltest.Seed(t, store, "Alpha")
		other := modeltest.Seed(t, store, "Beta")
		// 120 events, 40 of them sharing one timestamp, so the id breaks ties
		// across a page boundary.
		for i := range 120 {
			if i < 40 || i >= 80 {
				clock.now = clock.now.Add(time.Second)
			}
			if err := store.Audit.Record(t.Context(), fx.Program.ID, audit.Actor{Email: "a@x.test"}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				store.Audit.Record(t.Context(), other.Program.ID, audit.Actor{}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: fmt.Sprint(i)})
			}
		}
		f, err := audit.FilterInput{Action: audit.ActionKeyCopied}.Resolve(clock.now)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var seen []string
		var pages []*audit.Page
		req := audit.PageRequest{Limit: 50}
		for {
			page, err := store.Audit.List(ctx, fx.Program.ID, f, req)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, page)
			for _, e := range page.Events {
				if e.ProgramID != fx.Program.ID {
					t.Fatal("another program's event")
				}
				seen = append(seen, e.TargetName)
			}
			if page.Older == nil {
				break
			}
			req = audit.PageRequest{Limit: 50, Before: page.Older}
		}
		if len(pages) != 3 || len(pages[0].Events) != 50 || len(pages[2].Events) != 20 {
			t.Fatalf("pages: %d", len(pages))
		}
		if pages[0].Newer != nil || pages[1].Newer == nil || pages[2].Older != nil {
			t.Fatal("neighbour links wrong")
		}
		for i, name := range seen {
			if want := fmt.Sprint(119 - i); name != want {
				t.Fatalf("position %d: %s, want %s (a duplicate or a skipped event)", i, name, want)
			}
		}
		// Newer from the last page is exactly the middle page, and newer
		// from the middle page is the first page.
		back, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{Limit: 50, After: pages[2].Newer})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(back.Events, pages[1].Events) || back.Newer == nil || back.Older == nil {
			t.Fatalf("newer from page 3 is not page 2")
		}
		first, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{Limit: 50, After: pages[1].Newer})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(first.Events, pages[0].Events) || first.Newer != nil {
			t.Fatalf("newer from page 2 is not the first page")
		}
		// A page stays the same when new events arrive at the top.
		store.Audit.Record(t.Context(), fx.Program.ID, audit.Actor{}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: "new"})
		again, err := store.Audit.List(ctx, fx.Program.ID, f, audit.PageRequest{Limit: 50, Before: pages[0].Older})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(again.Events, pages[1].Events) {
			t.Fatal("an older page moved when a new event arrived")
		}
	})
}

func sameAuditEvents(a, b []audit.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

func TestVerifyAuditTrailIsAudited(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Alpha")
		v, err := store.Audit.VerifyTrail(t.Context(), fx.Program.ID, audit.Actor{Email: fx.Support.Email})
		if err != nil || v.Break != nil || v.Verified != 4 {
			t.Fatalf("verify: %+v %v", v, err)
		}
		var last audit.Event
		store.DB.Where("program_id = ?", fx.Program.ID).Order("seq DESC").Take(&last)
		if last.Action != audit.ActionAuditVerified || last.ActorEmail != fx.Support.Email || last.Outcome != audit.OutcomeSuccess {
			t.Fatalf("last event %+v", last)
		}
		if _, brk, _ := store.Audit.VerifyChain(t.Context(), fx.Program.ID); brk != nil {
			t.Fatalf("chain after verify: %v", brk)
		}
	})
}
