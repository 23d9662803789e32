package audit_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/migrations"
	"keydesk/models/modeltest"
)

// searchEvent is one event a search test appends.
type searchEvent struct {
	action string
	name   string
}

// appendSearchEvents appends events one second apart, oldest first, from
// start, in one transaction.
func appendSearchEvents(t *testing.T, s *modeltest.Stores, programID int64, start time.Time, events []searchEvent) time.Time {
	t.Helper()
	now := start
	s.SetClock(func() time.Time { return now })
	err := s.DB.Transaction(func(tx *gorm.DB) error {
		for _, e := range events {
			now = now.Add(time.Second)
			if err := s.Audit.Append(tx, programID, audit.Actor{Email: "ana@example.test"}, audit.Entry{Action: e.action, TargetType: audit.TargetAPIKey, TargetID: "kdi_x", TargetName: e.name}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return now
}

// listEveryPage pages through every event matching f, newest first, limit
// at a time, and checks that going newer from each page gives the page
// before it.
func listEveryPage(t *testing.T, s *modeltest.Stores, programID int64, f audit.Filter, limit int) []audit.Event {
	t.Helper()
	var all []audit.Event
	var pages []*audit.Page
	req := audit.PageRequest{Limit: limit}
	for {
		page, err := s.Audit.List(t.Context(), programID, f, req)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		all = append(all, page.Events...)
		if page.Older == nil {
			break
		}
		if len(pages) > 1000 {
			t.Fatalf("search %q, action %q: no last page after %d pages", f.Search, f.Action, len(pages))
		}
		req = audit.PageRequest{Limit: limit, Before: page.Older}
	}
	for i := 1; i < len(pages); i++ {
		newer, err := s.Audit.List(t.Context(), programID, f, audit.PageRequest{Limit: limit, After: pages[i].Newer})
		if err != nil {
			t.Fatal(err)
		}
		if !sameAuditEvents(newer.Events, pages[i-1].Events) {
			t.Fatalf("search %q, action %q: newer than page %d is not page %d", f.Search, f.Action, i+1, i)
		}
	}
	return all
}

// wantSearch is the events of programID matching the action and the search
// as the audit trail defines it (the target name contains the text, in
// any case, wildcards literal) and since, newest first, read without any
// filter in the query.
func wantSearch(t *testing.T, s *modeltest.Stores, programID int64, action, search string, since time.Time) []int64 {
	t.Helper()
	var events []audit.Event
	if err := s.DB.Where("program_id = ?", programID).Order("occurred_at DESC, id DESC").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range events {
		if e.Action == action && strings.Contains(strings.ToLower(e.TargetName), strings.ToLower(search)) && !e.OccurredAt.Before(since) {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

func eventIDs(events []audit.Event) []int64 {
	ids := make([]int64, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// TestSearchWithActionMatchesExactly: a search with an action (on
// PostgreSQL answered by the target names the action's events bear, then
// name by name) finds exactly the events a plain scan finds, on every page
// and in both directions: names in any case, wildcards and backslashes
// taken literally, names that match only with another action, names whose
// events are all outside the period, and another program's events.
func TestSearchWithActionMatchesExactly(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, s, "Search")
		other := modeltest.Seed(t, s, "Other")
		start := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
		var old, recent []searchEvent
		for i := range 12 {
			old = append(old, searchEvent{audit.ActionKeyDeleted, "Archived key"})
			old = append(old, searchEvent{audit.ActionKeyRevealed, fmt.Sprintf("Needle key %d", i%3)})
		}
		// 10 names and 3 actions: each action bears each name twice.
		names := []string{"Needle key 0", "NEEDLE key 1", "Ordinary key", "100% key", "100x key", "a_b", "axb", `back\slash`, "Needle key 2", "Plain"}
		for i := range 60 {
			action := []string{audit.ActionKeyRevealed, audit.ActionKeyCopied, audit.ActionKeyUpdated}[i%3]
			recent = append(recent, searchEvent{action, names[i%len(names)]})
		}
		appendSearchEvents(t, s, other.Program.ID, start, []searchEvent{{audit.ActionKeyCopied, "Needle key 0"}, {audit.ActionKeyRevealed, "Archived key"}})
		mid := appendSearchEvents(t, s, fx.Program.ID, start, old).Add(10 * 24 * time.Hour)
		now := appendSearchEvents(t, s, fx.Program.ID, mid, recent)

		cases := []struct {
			action, search, period string
			n                      int
		}{
			{audit.ActionKeyRevealed, "needle", "all", 12 + 6},
			{audit.ActionKeyRevealed, "NEEDLE KEY 1", "all", 4 + 2}, // "Needle key 1" and "NEEDLE key 1"
			{audit.ActionKeyCopied, "needle", "all", 6},
			{audit.ActionKeyCopied, "0%", "all", 2},    // "100% key", not "100x key"
			{audit.ActionKeyUpdated, "a_b", "all", 2},  // not "axb"
			{audit.ActionKeyRevealed, `k\s`, "all", 2}, // the backslash is a character
			{audit.ActionKeyUpdated, "key", "all", 12},
			{audit.ActionKeyCopied, "%", "all", 2},
			{audit.ActionKeyDeleted, "archived", "all", 12},
			{audit.ActionKeyDeleted, "archived", "7d", 0}, // the name exists, its events are older
			{audit.ActionKeyRevealed, "needle", "7d", 6},
			{audit.ActionKeyDeleted, "needle", "all", 0}, // the name exists with other actions only
			{audit.ActionKeyCopied, "absent", "all", 0},
		}
		for _, tc := range cases {
			f, err := audit.FilterInput{Period: tc.period, Action: tc.action, Search: tc.search}.Resolve(now)
			if err != nil {
				t.Fatal(err)
			}
			got := eventIDs(listEveryPage(t, s, fx.Program.ID, f, 4))
			want := wantSearch(t, s, fx.Program.ID, tc.action, tc.search, f.Since)
			if !slices.Equal(got, want) || len(got) != tc.n {
				t.Errorf("search %q, action %s, period %s: got %v, want %v (%d events)", tc.search, tc.action, tc.period, got, want, tc.n)
			}
		}
	})
}

// TestSearchWithActionOverManyNames: when more names match than are read
// name by name for a page (maxSearchRows), and the matches are older than
// the bounded time-order walk, the search still finds exactly its events.
func TestSearchWithActionOverManyNames(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, s, "Many")
		var events []searchEvent
		for i := range 120 {
			events = append(events, searchEvent{audit.ActionKeyCopied, fmt.Sprintf("Many %03d", i)})
		}
		for range 1005 {
			events = append(events, searchEvent{audit.ActionKeyCopied, "Ordinary key"})
		}
		now := appendSearchEvents(t, s, fx.Program.ID, time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC), events)
		for _, search := range []string{"many", "many 04", "many 999"} {
			f, err := audit.FilterInput{Period: "all", Action: audit.ActionKeyCopied, Search: search}.Resolve(now)
			if err != nil {
				t.Fatal(err)
			}
			got := eventIDs(listEveryPage(t, s, fx.Program.ID, f, audit.PageSize))
			want := wantSearch(t, s, fx.Program.ID, audit.ActionKeyCopied, search, f.Since)
			if !slices.Equal(got, want) || (search == "many" && len(got) != 120) {
				t.Errorf("search %q: got %d events %v, want %d %v", search, len(got), got, len(want), want)
			}
		}
	})
}

// TestSearchWithActionAfterUpgrade: events written before the target
// names existed (the migration fills them in) and events inserted
// several in one statement (the trigger takes every row) are found.
func TestSearchWithActionAfterUpgrade(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.OpenBefore(t, db, "audit target names by action")
		const program = 7
		at := time.Date(2026, 2, 1, 12, 0, 0, 0, time.UTC)
		type row struct {
			seq          int64
			action, name string
		}
		rows := func(rs ...row) error {
			values := make([]string, len(rs))
			var args []any
			for i, r := range rs {
				values[i] = "(?, ?, 'p', 'h', ?, 'ana@example.test', ?, 'api_key', 'kdi_x', ?, 'success', 1, 0)"
				args = append(args, program, r.seq, at.Add(time.Duration(r.seq)*time.Minute), r.action, r.name)
			}
			return gdb.Exec(`INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_email, action, target_type, target_id, target_name, outcome, hash_version, key_version) VALUES `+strings.Join(values, ", "), args...).Error
		}
		if err := rows(row{1, audit.ActionKeyCopied, "Old Key"}, row{2, audit.ActionKeyRevealed, "Old key"}); err != nil {
			t.Fatal(err)
		}
		if _, err := migrations.Migrate(t.Context(), gdb); err != nil {
			t.Fatal(err)
		}
		if err := rows(row{3, audit.ActionKeyCopied, "New key A"}, row{4, audit.ActionKeyCopied, "new key b"}, row{5, audit.ActionKeyUpdated, "New key C"}); err != nil {
			t.Fatal(err)
		}
		s := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		for _, tc := range []struct {
			action, search string
			want           []string
		}{
			{audit.ActionKeyCopied, "old", []string{"Old Key"}},
			{audit.ActionKeyRevealed, "OLD KEY", []string{"Old key"}},
			{audit.ActionKeyCopied, "new key", []string{"new key b", "New key A"}},
			{audit.ActionKeyUpdated, "key c", []string{"New key C"}},
			{audit.ActionKeyUpdated, "key a", nil},
		} {
			f, err := audit.FilterInput{Period: "all", Action: tc.action, Search: tc.search}.Resolve(at)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range listEveryPage(t, s, program, f, 1) {
				got = append(got, e.TargetName)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("search %q, action %s: got %q, want %q", tc.search, tc.action, got, tc.want)
			}
		}
	})
}
