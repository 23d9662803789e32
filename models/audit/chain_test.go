package audit_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

func auditIsPostgres(db *gorm.DB) bool { return db.Dialector.Name() == "postgres" }

// auditAppendN appends n events to a program's chain, one transaction each.
func auditAppendN(t *testing.T, store *modeltest.Stores, programID int64, n int) {
	t.Helper()
	for i := range n {
		err := store.Audit.Record(t.Context(), programID, audit.Actor{AdminID: 7, Email: "ops@example.test", IP: "192.0.2.1"}, audit.Entry{
			Action: audit.ActionKeyUpdated, TargetType: "api_key", TargetID: fmt.Sprintf("kdi_test%04d", i), TargetName: fmt.Sprintf("key %d", i),
			Details: map[string]any{"before": map[string]any{"name": "old"}, "after": map[string]any{"name": "new"}},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// auditEventAt returns a program's event at seq.
func auditEventAt(t *testing.T, db *gorm.DB, programID, seq int64) audit.Event {
	t.Helper()
	var e audit.Event
	if err := db.Where("program_id = ? AND seq = ?", programID, seq).Take(&e).Error; err != nil {
		t.Fatalf("event seq %d: %v", seq, err)
	}
	return e
}

func TestAuditChainStaysLinearUnderConcurrency(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		a := modeltest.Seed(t, store, "Alpha")
		b := modeltest.Seed(t, store, "Beta")
		keyA, err := store.Keys.Generate(t.Context(), a.Program.ID, audit.Actor{Email: a.Full.Email}, keys.KeyInput{Name: "Shop"})
		if err != nil {
			t.Fatal(err)
		}
		before := map[int64]int64{}
		for _, p := range []int64{a.Program.ID, b.Program.ID} {
			var n int64
			store.DB.Model(&audit.Event{}).Where("program_id = ?", p).Count(&n)
			before[p] = n
		}

		const actions = 200
		var wg sync.WaitGroup
		errs := make(chan error, actions)
		for i := range actions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch {
				case i%4 == 0:
					// A real audited action: the key's edit and its event
					// commit together.
					_, err := store.Keys.Update(t.Context(), a.Program.ID, audit.Actor{Email: a.Full.Email}, keyA.ID, keys.KeyInput{Name: "Shop", Description: fmt.Sprintf("edit %d", i)})
					errs <- err
				case i%2 == 0:
					errs <- store.Audit.Record(t.Context(), a.Program.ID, audit.Actor{Email: a.Support.Email}, audit.Entry{Action: audit.ActionAuditVerified, TargetName: fmt.Sprint(i)})
				default:
					errs <- store.Audit.Record(t.Context(), b.Program.ID, audit.Actor{Email: b.Support.Email}, audit.Entry{Action: audit.ActionAuditDownloaded, TargetName: fmt.Sprint(i)})
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for p, added := range map[int64]int64{a.Program.ID: actions / 2, b.Program.ID: actions / 2} {
			var seqs []int64
			if err := store.DB.Model(&audit.Event{}).Where("program_id = ?", p).Order("seq").Pluck("seq", &seqs).Error; err != nil {
				t.Fatal(err)
			}
			if got, want := int64(len(seqs)), before[p]+added; got != want {
				t.Fatalf("program %d: %d events, want %d", p, got, want)
			}
			for i, s := range seqs {
				if s != int64(i+1) {
					t.Fatalf("program %d: seq %d at position %d: the chain has a gap or a fork", p, s, i)
				}
			}
			n, brk, err := store.Audit.VerifyChain(t.Context(), p)
			if err != nil || brk != nil {
				t.Fatalf("program %d: verify: %v %v", p, err, brk)
			}
			if n != int64(len(seqs)) {
				t.Fatalf("program %d: verified %d of %d", p, n, len(seqs))
			}
		}
	})
}

func TestAuditEventsRefuseUpdateAndDelete(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, store, "Alpha")
		gdb := store.DB
		var count int64
		gdb.Model(&audit.Event{}).Count(&count)
		statements := []string{
			`UPDATE audit_events SET target_name = 'forged'`,
			`UPDATE audit_events SET outcome = 'success' WHERE seq = 1`,
			`DELETE FROM audit_events WHERE seq = 1`,
			`DELETE FROM audit_events`,
		}
		if auditIsPostgres(gdb) {
			statements = append(statements, `TRUNCATE audit_events`)
		}
		for _, stmt := range statements {
			err := gdb.Exec(stmt).Error
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("%s: got %v, want the append-only refusal", stmt, err)
			}
		}
		if auditIsPostgres(gdb) {
			// Replication mode skips ordinary triggers, but not ALWAYS ones.
			for _, stmt := range statements {
				err := gdb.Transaction(func(tx *gorm.DB) error {
					if err := tx.Exec(`SET LOCAL session_replication_role = replica`).Error; err != nil {
						t.Skipf("cannot set session_replication_role (needs superuser): %v", err)
					}
					return tx.Exec(stmt).Error
				})
				if err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Fatalf("%s under session_replication_role=replica: got %v, want the append-only refusal", stmt, err)
				}
			}
		}
		var after int64
		gdb.Model(&audit.Event{}).Count(&after)
		if after != count || count == 0 {
			t.Fatalf("events: %d before, %d after", count, after)
		}
		if _, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID); err != nil || brk != nil {
			t.Fatalf("chain after refused changes: %v %v", err, brk)
		}
	})
}

// auditDisableProtection removes the append-only guard, as an attacker with
// the database owner's rights could, so tampering can be simulated.
func auditDisableProtection(t *testing.T, db *gorm.DB) {
	t.Helper()
	stmts := []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}
	if auditIsPostgres(db) {
		stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
	}
	for _, s := range stmts {
		if err := db.Exec(s).Error; err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// auditTamper is one way of tampering with a chain of at least 8 events,
// with the seq of the first event verification must report.
type auditTamper struct {
	name     string
	brokenAt int64 // seq verification reports; 0 for the chain's end
	eventSeq int64 // seq, before tampering, of the event it names; 0 for none
	reason   string
	tamper   func(t *testing.T, db *gorm.DB, programID int64)
}

func auditTampers() []auditTamper {
	exec := func(t *testing.T, db *gorm.DB, sql string, args ...any) {
		t.Helper()
		if err := db.Exec(sql, args...).Error; err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return []auditTamper{
		{"altered", 5, 5, "altered", func(t *testing.T, db *gorm.DB, p int64) {
			exec(t, db, `UPDATE audit_events SET actor_email = 'someone-else@example.test' WHERE program_id = ? AND seq = 5`, p)
		}},
		// With the master key, one event's keyed hash can be recomputed; the
		// next event's link still gives it away.
		{"altered with its hash recomputed", 6, 6, "previous-hash", func(t *testing.T, db *gorm.DB, p int64) {
			e := auditEventAt(t, db, p, 5)
			e.TargetName = "forged"
			hash, _ := modeltest.Keyring(t).AuditKeys().ComputeHash(&e)
			exec(t, db, `UPDATE audit_events SET target_name = ?, hash = ? WHERE id = ?`, e.TargetName, hash, e.ID)
		}},
		{"removed", 4, 5, "removed", func(t *testing.T, db *gorm.DB, p int64) {
			exec(t, db, `DELETE FROM audit_events WHERE program_id = ? AND seq = 4`, p)
		}},
		{"reordered", 3, 4, "previous-hash", func(t *testing.T, db *gorm.DB, p int64) {
			exec(t, db, `UPDATE audit_events SET seq = -1 WHERE program_id = ? AND seq = 3`, p)
			exec(t, db, `UPDATE audit_events SET seq = 3 WHERE program_id = ? AND seq = 4`, p)
			exec(t, db, `UPDATE audit_events SET seq = 4 WHERE program_id = ? AND seq = -1`, p)
		}},
		{"last removed", 0, 0, "removed from the end", func(t *testing.T, db *gorm.DB, p int64) {
			exec(t, db, `DELETE FROM audit_events WHERE program_id = ? AND seq = (SELECT MAX(seq) FROM audit_events WHERE program_id = ?)`, p, p)
		}},
	}
}

func TestVerifyChainFindsTheFirstTamperedEvent(t *testing.T) {
	for _, tc := range auditTampers() {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
				store := modeltest.NewStores(t, db)
				f := modeltest.Seed(t, store, "Alpha")
				other := modeltest.Seed(t, store, "Beta")
				auditAppendN(t, store, f.Program.ID, 6)
				auditAppendN(t, store, other.Program.ID, 2)
				n, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID)
				if err != nil || brk != nil || n < 8 {
					t.Fatalf("intact chain: n=%d brk=%v err=%v", n, brk, err)
				}
				var last int64
				store.DB.Model(&audit.Event{}).Where("program_id = ?", f.Program.ID).Select("MAX(seq)").Scan(&last)
				var wantID int64
				if tc.eventSeq > 0 {
					wantID = auditEventAt(t, store.DB, f.Program.ID, tc.eventSeq).ID
				}

				auditDisableProtection(t, store.DB)
				tc.tamper(t, store.DB, f.Program.ID)

				_, brk, err = store.Audit.VerifyChain(t.Context(), f.Program.ID)
				if err != nil {
					t.Fatal(err)
				}
				if brk == nil {
					t.Fatal("tampered chain verified as intact")
				}
				wantSeq := tc.brokenAt
				if wantSeq == 0 {
					wantSeq = last
				}
				if brk.Seq != wantSeq || brk.ProgramID != f.Program.ID {
					t.Fatalf("break at program %d seq %d, want program %d seq %d: %v", brk.ProgramID, brk.Seq, f.Program.ID, wantSeq, brk)
				}
				if wantID != 0 && brk.EventID != wantID {
					t.Fatalf("break names event #%d, want #%d: %v", brk.EventID, wantID, brk)
				}
				if !strings.Contains(brk.Error(), tc.reason) {
					t.Fatalf("reason %q does not say %q", brk.Error(), tc.reason)
				}
				// The other program's chain is untouched.
				if _, brk, err := store.Audit.VerifyChain(t.Context(), other.Program.ID); err != nil || brk != nil {
					t.Fatalf("other chain: %v %v", err, brk)
				}
			})
		})
	}
}
