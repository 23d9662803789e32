package audit_test

import (
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// TestSearchFindsMatchesOlderThanTheTimeOrderWalk: on PostgreSQL a search
// first checks the 1000 newest events of its other filters; matches older
// than those, and their absence, must still be found exactly (the trigram
// fallback), on every page direction.
func TestSearchFindsMatchesOlderThanTheTimeOrderWalk(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, s, "Walk")
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		err := s.DB.Transaction(func(tx *gorm.DB) error {
			for i := range 1205 {
				now = now.Add(time.Second)
				name := "Ordinary key"
				if i < 3 { // the oldest three: past any bounded walk
					name = "Needle key"
				}
				if err := s.Audit.Append(tx, fx.Program.ID, actor, audit.Entry{Action: audit.ActionKeyRevealed, TargetType: audit.TargetAPIKey, TargetID: "kdi_x", TargetName: name}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		f, err := audit.FilterInput{Period: "all", Action: audit.ActionKeyRevealed, Search: "needle"}.Resolve(now)
		if err != nil {
			t.Fatal(err)
		}
		page, err := s.Audit.List(t.Context(), fx.Program.ID, f, audit.PageRequest{Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Events) != 2 || page.Older == nil || page.Events[0].TargetName != "Needle key" {
			t.Fatalf("first page: %d events, older %v", len(page.Events), page.Older)
		}
		older, err := s.Audit.List(t.Context(), fx.Program.ID, f, audit.PageRequest{Limit: 2, Before: page.Older})
		if err != nil || len(older.Events) != 1 || older.Older != nil || older.Events[0].TargetName != "Needle key" {
			t.Fatalf("older page: %+v %v", older, err)
		}
		newer, err := s.Audit.List(t.Context(), fx.Program.ID, f, audit.PageRequest{Limit: 2, After: older.Newer})
		if err != nil || len(newer.Events) != 2 || newer.Events[0].ID != page.Events[0].ID {
			t.Fatalf("newer page: %+v %v", newer, err)
		}
		f.Search = "absent"
		none, err := s.Audit.List(t.Context(), fx.Program.ID, f, audit.PageRequest{})
		if err != nil || len(none.Events) != 0 {
			t.Fatalf("no match: %+v %v", none, err)
		}
	})
}
