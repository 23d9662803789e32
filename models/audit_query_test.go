package models_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata"

	"keydesk/models"
	"keydesk/models/modeltest"
)

// auditClock is a settable clock for the store.
type auditClock struct{ now time.Time }

func (c *auditClock) Now() time.Time { return c.now }

// auditTrailFixture is a program with keys and events spread over time, and
// another program whose events look alike.
type auditTrailFixture struct {
	store  *models.Store
	clock  *auditClock
	alpha  modeltest.Fixture
	beta   modeltest.Fixture
	shop   *models.APIKey // "Shopify sync", renamed from "Shop"
	erp    *models.APIKey // "Legacy ERP", deleted
	erpID  string
	marker string // a target name containing LIKE wildcards
}

var auditNow = time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)

func newAuditTrailFixture(t *testing.T, db modeltest.Database) *auditTrailFixture {
	t.Helper()
	store := modeltest.NewStore(t, db)
	clock := &auditClock{now: auditNow.Add(-40 * 24 * time.Hour)}
	store.SetClock(clock.Now)
	fx := &auditTrailFixture{store: store, clock: clock, marker: "50%_off"}
	fx.alpha = modeltest.Seed(t, store, "Alpha")
	fx.beta = modeltest.Seed(t, store, "Beta")
	full := models.Actor{AdminID: fx.alpha.Full.ID, Email: fx.alpha.Full.Email, IP: "198.51.100.7"}
	must := func(k *models.APIKey, err error) *models.APIKey {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	// 40 days ago: program and admins (Seed), then 10 days ago the keys.
	clock.now = auditNow.Add(-10 * 24 * time.Hour)
	fx.shop = must(store.GenerateAPIKey(fx.alpha.Program.ID, full, models.KeyInput{Name: "Shop"}))
	fx.erp = must(store.GenerateAPIKey(fx.alpha.Program.ID, full, models.KeyInput{Name: "Legacy ERP"}))
	fx.erpID = fx.erp.Identifier
	// 3 days ago: the shop key is renamed; the ERP key inactivated and deleted.
	clock.now = auditNow.Add(-3 * 24 * time.Hour)
	fx.shop = must(store.UpdateAPIKey(fx.alpha.Program.ID, full, fx.shop.ID, models.KeyInput{Name: "Shopify sync", Description: "orders"}))
	must(store.SetAPIKeyActive(fx.alpha.Program.ID, full, fx.erp.ID, false))
	must(store.DeleteAPIKey(fx.alpha.Program.ID, full, fx.erp.ID))
	// 2 hours ago: the support admin downloads; something with wildcards.
	clock.now = auditNow.Add(-2 * time.Hour)
	support := models.Actor{AdminID: fx.alpha.Support.ID, Email: fx.alpha.Support.Email}
	if err := store.Audit(fx.alpha.Program.ID, support, models.AuditEntry{Action: models.ActionAuditDownloaded, TargetType: "audit_trail", TargetName: "CSV download"}); err != nil {
		t.Fatal(err)
	}
	if err := store.Audit(fx.alpha.Program.ID, support, models.AuditEntry{Action: models.ActionAccessRefused, TargetType: "route", TargetName: fx.marker}); err != nil {
		t.Fatal(err)
	}
	if err := store.Audit(fx.alpha.Program.ID, support, models.AuditEntry{Action: models.ActionAccessRefused, TargetType: "route", TargetName: "500 off"}); err != nil {
		t.Fatal(err)
	}
	// The other program has keys of the same names and the same actions.
	bfull := models.Actor{AdminID: fx.beta.Full.ID, Email: fx.beta.Full.Email}
	bshop := must(store.GenerateAPIKey(fx.beta.Program.ID, bfull, models.KeyInput{Name: "Shopify sync"}))
	must(store.SetAPIKeyActive(fx.beta.Program.ID, bfull, bshop.ID, false))
	if err := store.Audit(fx.beta.Program.ID, bfull, models.AuditEntry{Action: models.ActionAccessRefused, TargetName: fx.marker}); err != nil {
		t.Fatal(err)
	}
	clock.now = auditNow
	return fx
}

// list returns the actions of every alpha event matching in, newest first.
func (fx *auditTrailFixture) list(t *testing.T, in models.AuditFilterInput) []models.AuditEvent {
	t.Helper()
	f, err := in.Resolve(auditNow)
	if err != nil {
		t.Fatalf("resolve %+v: %v", in, err)
	}
	page, err := fx.store.ListAuditEvents(context.Background(), fx.alpha.Program.ID, f, models.AuditPageRequest{Limit: 500})
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

func auditActionsOf(events []models.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Action
	}
	return out
}

func TestAuditFilters(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		fx := newAuditTrailFixture(t, db)
		all := fx.list(t, models.AuditFilterInput{Period: models.AuditPeriodAll})
		// program + 3 admins + 2 generated + edit + inactivate + delete + 3 recent
		if len(all) != 12 {
			t.Fatalf("all time: %d events %v", len(all), auditActionsOf(all))
		}
		count := func(in models.AuditFilterInput) int { return len(fx.list(t, in)) }

		cases := []struct {
			name string
			in   models.AuditFilterInput
			want []string
		}{
			{"24h", models.AuditFilterInput{Period: "24h"}, []string{models.ActionAccessRefused, models.ActionAccessRefused, models.ActionAuditDownloaded}},
			{"7d", models.AuditFilterInput{Period: "7d"}, []string{models.ActionAccessRefused, models.ActionAccessRefused, models.ActionAuditDownloaded, models.ActionKeyDeleted, models.ActionKeyInactivated, models.ActionKeyEdited}},
			{"default is 30d", models.AuditFilterInput{}, []string{models.ActionAccessRefused, models.ActionAccessRefused, models.ActionAuditDownloaded, models.ActionKeyDeleted, models.ActionKeyInactivated, models.ActionKeyEdited, models.ActionKeyGenerated, models.ActionKeyGenerated}},
			{"action", models.AuditFilterInput{Period: "all", Action: models.ActionKeyGenerated}, []string{models.ActionKeyGenerated, models.ActionKeyGenerated}},
			{"actor, any case", models.AuditFilterInput{Period: "all", Actor: "  " + fx.alpha.Support.Email[:1] + "UPPORT" + fx.alpha.Support.Email[7:] + " "}, []string{models.ActionAccessRefused, models.ActionAccessRefused, models.ActionAuditDownloaded}},
			{"key by current name", models.AuditFilterInput{Period: "all", APIKey: "shopify SYNC"}, []string{models.ActionKeyEdited, models.ActionKeyGenerated}},
			{"key by former name", models.AuditFilterInput{Period: "all", APIKey: "Shop"}, []string{models.ActionKeyEdited, models.ActionKeyGenerated}},
			{"key by identifier", models.AuditFilterInput{Period: "all", APIKey: fx.shop.Identifier}, []string{models.ActionKeyEdited, models.ActionKeyGenerated}},
			{"deleted key by name", models.AuditFilterInput{Period: "all", APIKey: "legacy erp"}, []string{models.ActionKeyDeleted, models.ActionKeyInactivated, models.ActionKeyGenerated}},
			{"deleted key by identifier", models.AuditFilterInput{Period: "all", APIKey: fx.erpID}, []string{models.ActionKeyDeleted, models.ActionKeyInactivated, models.ActionKeyGenerated}},
			{"unknown key", models.AuditFilterInput{Period: "all", APIKey: "nope"}, []string{}},
			{"another program's key", models.AuditFilterInput{Period: "all", APIKey: "kdi_doesnotexist00"}, []string{}},
			{"search is a substring, any case", models.AuditFilterInput{Period: "all", Search: "ERP"}, []string{models.ActionKeyDeleted, models.ActionKeyInactivated, models.ActionKeyGenerated}},
			{"search wildcards are literal", models.AuditFilterInput{Period: "all", Search: "50%_"}, []string{models.ActionAccessRefused}},
			{"combined", models.AuditFilterInput{Period: "7d", Action: models.ActionKeyDeleted, Actor: fx.alpha.Full.Email, APIKey: "Legacy ERP", Search: "legacy"}, []string{models.ActionKeyDeleted}},
			{"combined, no match", models.AuditFilterInput{Period: "24h", Action: models.ActionKeyDeleted}, []string{}},
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
		if n := count(models.AuditFilterInput{From: day, To: day}); n != 3 {
			t.Errorf("custom range of one day (UTC): %d events, want 3", n)
		}
		if n := count(models.AuditFilterInput{Period: "custom", From: day, To: day, Location: ny}); n != 3 {
			t.Errorf("custom range of one day (New York): %d events, want 3", n)
		}
		if n := count(models.AuditFilterInput{Period: "custom", From: threeDaysAgo.AddDate(0, 0, 1).Format("2006-01-02")}); n != 3 {
			t.Errorf("custom range from a day: %d events, want 3", n)
		}
		if n := count(models.AuditFilterInput{Period: "custom", To: threeDaysAgo.AddDate(0, 0, -1).Format("2006-01-02")}); n != 6 {
			t.Errorf("custom range up to a day: %d events, want 6", n)
		}
		// The recent events happened at 10:00 UTC on the 15th, which is
		// midnight starting the 16th in Kiritimati (UTC+14): the first
		// instant of a day is inside it.
		kiri, err := time.LoadLocation("Pacific/Kiritimati")
		if err != nil {
			t.Fatal(err)
		}
		if n := count(models.AuditFilterInput{From: "2026-03-16", To: "2026-03-16", Location: kiri}); n != 3 {
			t.Errorf("custom day in Kiritimati: %d events, want 3", n)
		}
		if n := count(models.AuditFilterInput{From: "2026-03-16", To: "2026-03-16", Location: ny}); n != 0 {
			t.Errorf("custom day in New York: %d events, want 0", n)
		}
	})
}

func TestAuditFilterValidation(t *testing.T) {
	cases := []struct {
		in    models.AuditFilterInput
		field string
	}{
		{models.AuditFilterInput{Period: "1y"}, "period"},
		{models.AuditFilterInput{From: "15/03/2026"}, "from"},
		{models.AuditFilterInput{To: "yesterday"}, "to"},
		{models.AuditFilterInput{From: "2026-03-10", To: "2026-03-09"}, "to"},
		{models.AuditFilterInput{Action: "api_key.stolen"}, "action"},
		{models.AuditFilterInput{Search: string(make([]byte, 201))}, "search"},
		{models.AuditFilterInput{APIKey: "\xff"}, "api_key"},
	}
	for _, tc := range cases {
		_, err := tc.in.Resolve(auditNow)
		var verr models.ValidationError
		if !errors.As(err, &verr) || verr[tc.field] == "" {
			t.Errorf("%+v: got %v, want an error on %s", tc.in, err, tc.field)
		}
	}
	f, err := models.AuditFilterInput{From: "2026-03-10", To: "2026-03-10"}.Resolve(auditNow)
	if err != nil || f.Period != models.AuditPeriodCustom {
		t.Fatalf("dates make a custom range: %+v %v", f, err)
	}
	if !f.Since.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) || !f.Until.Equal(time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("bounds %v – %v", f.Since, f.Until)
	}
}

func TestAuditCursorRoundTrip(t *testing.T) {
	c := models.AuditCursor{At: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), ID: 42}
	got, err := models.ParseAuditCursor(c.String())
	if err != nil || !got.At.Equal(c.At) || got.ID != c.ID {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "x", "1_", "_1", "1_0", "a_b", "-5_3", "1_2_3"} {
		if _, err := models.ParseAuditCursor(bad); err == nil {
			t.Errorf("cursor %q accepted", bad)
		}
	}
}

func TestAuditKeysetPaging(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStore(t, db)
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
			if err := store.Audit(fx.Program.ID, models.Actor{Email: "a@x.test"}, models.AuditEntry{Action: models.ActionKeyCopied, TargetName: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
			if i%10 == 0 {
				store.Audit(other.Program.ID, models.Actor{}, models.AuditEntry{Action: models.ActionKeyCopied, TargetName: fmt.Sprint(i)})
			}
		}
		f, err := models.AuditFilterInput{Action: models.ActionKeyCopied}.Resolve(clock.now)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		var seen []string
		var pages []*models.AuditPage
		req := models.AuditPageRequest{Limit: 50}
		for {
			page, err := store.ListAuditEvents(ctx, fx.Program.ID, f, req)
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
			req = models.AuditPageRequest{Limit: 50, Before: page.Older}
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
		back, err := store.ListAuditEvents(ctx, fx.Program.ID, f, models.AuditPageRequest{Limit: 50, After: pages[2].Newer})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(back.Events, pages[1].Events) || back.Newer == nil || back.Older == nil {
			t.Fatalf("newer from page 3 is not page 2")
		}
		first, err := store.ListAuditEvents(ctx, fx.Program.ID, f, models.AuditPageRequest{Limit: 50, After: pages[1].Newer})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(first.Events, pages[0].Events) || first.Newer != nil {
			t.Fatalf("newer from page 2 is not the first page")
		}
		// A page stays the same when new events arrive at the top.
		store.Audit(fx.Program.ID, models.Actor{}, models.AuditEntry{Action: models.ActionKeyCopied, TargetName: "new"})
		again, err := store.ListAuditEvents(ctx, fx.Program.ID, f, models.AuditPageRequest{Limit: 50, Before: pages[0].Older})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(again.Events, pages[1].Events) {
			t.Fatal("an older page moved when a new event arrived")
		}
	})
}

func sameAuditEvents(a, b []models.AuditEvent) bool {
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
		store := modeltest.NewStore(t, db)
		fx := modeltest.Seed(t, store, "Alpha")
		v, err := store.VerifyAuditTrail(fx.Program.ID, models.Actor{Email: fx.Support.Email})
		if err != nil || v.Break != nil || v.Verified != 4 {
			t.Fatalf("verify: %+v %v", v, err)
		}
		var last models.AuditEvent
		store.DB().Where("program_id = ?", fx.Program.ID).Order("seq DESC").Take(&last)
		if last.Action != models.ActionAuditVerified || last.ActorEmail != fx.Support.Email || last.Outcome != models.OutcomeSuccess {
			t.Fatalf("last event %+v", last)
		}
		if _, brk, _ := store.VerifyChain(fx.Program.ID); brk != nil {
			t.Fatalf("chain after verify: %v", brk)
		}
	})
}
