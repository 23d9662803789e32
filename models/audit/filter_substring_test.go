package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// Issue 28 item 12: the Actor and API key filters match by prefix or
// substring, in any case, and never reach another program's events
// (fx.list fails on any event of another program).
func TestAuditFiltersMatchBySubstring(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		fx := newAuditTrailFixture(t, db)
		fullEvents := []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyUpdated, audit.ActionKeyGenerated, audit.ActionKeyGenerated}
		supportEvents := []string{audit.ActionAccessRefused, audit.ActionAccessRefused, audit.ActionAuditDownloaded}
		shopEvents := []string{audit.ActionKeyUpdated, audit.ActionKeyGenerated}
		cases := []struct {
			name string
			in   audit.FilterInput
			want []string
		}{
			{"actor by prefix, any case", audit.FilterInput{Actor: "FULL"}, fullEvents},
			{"actor by prefix", audit.FilterInput{Actor: "support@"}, supportEvents},
			{"actor by substring: every admin of the domain", audit.FilterInput{Actor: "@" + fx.alpha.Program.PartnerID}, append(slices.Clone(supportEvents), fullEvents...)},
			{"actor by whole email", audit.FilterInput{Actor: fx.alpha.Support.Email}, supportEvents},
			{"actor of another program", audit.FilterInput{Actor: fx.beta.Full.Email}, []string{}},
			{"actor that is no one's", audit.FilterInput{Actor: "nobody"}, []string{}},
			{"actor with a LIKE wildcard", audit.FilterInput{Actor: "%"}, []string{}},
			{"API key by name prefix", audit.FilterInput{APIKey: "shopi"}, shopEvents},
			{"API key by name substring, any case", audit.FilterInput{APIKey: "SYNC"}, shopEvents},
			{"API key by identifier prefix", audit.FilterInput{APIKey: fx.shop.Identifier[:len(fx.shop.Identifier)-3]}, shopEvents},
			{"deleted key by part of its name", audit.FilterInput{APIKey: "erp"}, []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyGenerated}},
			{"API key with a LIKE wildcard", audit.FilterInput{APIKey: "%"}, []string{}},
			{"actor and API key by parts", audit.FilterInput{Actor: "full", APIKey: "legacy", Search: "erp"}, []string{audit.ActionKeyDeleted, audit.ActionKeyInactivated, audit.ActionKeyGenerated}},
			{"actor by part and search, no match", audit.FilterInput{Actor: "support", Search: "legacy"}, []string{}},
		}
		for _, tc := range cases {
			tc.in.Period = audit.PeriodAll
			got := auditActionsOf(fx.list(t, tc.in))
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
		// Pages by cursor under a substring filter: two events a page.
		f, err := audit.FilterInput{Period: audit.PeriodAll, Actor: "full"}.Resolve(auditNow)
		if err != nil {
			t.Fatal(err)
		}
		var paged []string
		var before *audit.Cursor
		for range 5 {
			page, err := fx.store.Audit.List(context.Background(), fx.alpha.Program.ID, f, audit.PageRequest{Before: before, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, auditActionsOf(page.Events)...)
			if page.Older == nil {
				break
			}
			before = page.Older
		}
		if !slices.Equal(paged, fullEvents) {
			t.Fatalf("paged %v, want %v", paged, fullEvents)
		}
	})
}

// Issue 28 item 12: the CSV and JSON Lines downloads list the same events
// in the same order (the chain's, ascending seq).
func TestAuditDownloadsListTheSameEventsInTheSameOrder(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		fx := newAuditTrailFixture(t, db)
		for _, in := range []audit.FilterInput{{Period: audit.PeriodAll}, {Period: audit.PeriodAll, Actor: "full"}} {
			f, err := in.Resolve(auditNow)
			if err != nil {
				t.Fatal(err)
			}
			var c, j bytes.Buffer
			if _, err := fx.store.Audit.WriteCSV(context.Background(), &c, fx.alpha.Program.ID, f); err != nil {
				t.Fatal(err)
			}
			if _, err := fx.store.Audit.WriteJSONL(context.Background(), &j, fx.alpha.Program.ID, fx.alpha.Program.PartnerID, f); err != nil {
				t.Fatal(err)
			}
			records, err := csv.NewReader(&c).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			idCol := slices.Index(audit.CSVHeader, "event_id")
			var fromCSV, fromJSONL []int64
			for _, rec := range records[1:] {
				id, err := strconv.ParseInt(rec[idCol], 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				fromCSV = append(fromCSV, id)
			}
			dec := json.NewDecoder(&j)
			var seqs []int64
			for dec.More() {
				var line audit.JSONLine
				if err := dec.Decode(&line); err != nil {
					t.Fatal(err)
				}
				fromJSONL = append(fromJSONL, line.EventID)
				seqs = append(seqs, line.Seq)
			}
			if len(fromCSV) < 2 || !slices.Equal(fromCSV, fromJSONL) {
				t.Fatalf("%+v: CSV lists %v, JSON Lines %v", in, fromCSV, fromJSONL)
			}
			if !slices.IsSorted(seqs) {
				t.Fatalf("%+v: not in chain order: %v", in, seqs)
			}
		}
	})
}
