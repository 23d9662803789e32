package audit_test

import (
	"strings"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// auditForgeLegacyChain is the attack of issue 21 item 2, as someone who can
// write the database but lacks the master key carries it out: lift the
// append-only guard (the database owner can drop or disable triggers and
// constraints), erase the events from seq eraseFrom to eraseTo, renumber
// the rest and re-chain every event with the public legacy SHA-256, fix the
// head, and mark the chain as waiting for `keydesk audit rekey`.
func auditForgeLegacyChain(t *testing.T, db *gorm.DB, programID, eraseFrom, eraseTo int64) (kept int64) {
	t.Helper()
	auditDisableProtection(t, db)
	if auditIsPostgres(db) {
		if err := db.Exec(`ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_keyed_only`).Error; err != nil {
			t.Fatal(err)
		}
	} else if err := db.Exec(`DROP TRIGGER IF EXISTS audit_events_keyed_only`).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`DELETE FROM audit_events WHERE program_id = ? AND seq BETWEEN ? AND ?`, programID, eraseFrom, eraseTo).Error; err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	if err := db.Where("program_id = ?", programID).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := range events {
		e := &events[i]
		e.Seq = int64(i + 1)
		e.PrevHash = prev
		e.HashVersion = audit.HashLegacySHA256
		e.KeyVersion = 0
		e.Hash = plainSHA256(*e)
		if err := db.Exec(`UPDATE audit_events SET seq = ?, prev_hash = ?, hash = ?, hash_version = 0, key_version = 0 WHERE id = ?`,
			e.Seq, e.PrevHash, e.Hash, e.ID).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	kept = int64(len(events))
	if err := db.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, kept, prev, programID).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`INSERT INTO audit_rekey_pending (program_id, through_seq) VALUES (?, ?)`, programID, kept).Error; err != nil {
		t.Fatal(err)
	}
	return kept
}

// Issue 21 item 2: a keyed chain rewritten with the legacy SHA-256 and a
// forged re-keying mark is not laundered. Verify does not advise `audit
// rekey` for it, rekey refuses it, and verify still names the forgery.
func TestRekeyDoesNotLaunderAForgedLegacyChain(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, store, "Alpha")
		auditAppendN(t, store, f.Program.ID, 60)
		if n, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID); err != nil || brk != nil || n != 64 {
			t.Fatalf("intact chain: %d %v %v", n, brk, err)
		}

		kept := auditForgeLegacyChain(t, store.DB, f.Program.ID, 5, 59) // 55 events erased
		if kept != 9 {
			t.Fatalf("kept %d events", kept)
		}

		_, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if brk == nil {
			t.Fatal("a forged legacy chain verified")
		}
		if strings.Contains(brk.Reason, "rekey") {
			t.Fatalf("verify advises re-keying a forged chain: %s", brk.Reason)
		}
		if brk.Seq != 1 || !strings.Contains(brk.Reason, "forged") {
			t.Fatalf("break at seq %d (%s), want seq 1, forged", brk.Seq, brk.Reason)
		}
		if n, err := store.Audit.PendingRekey(t.Context()); err != nil || n != 0 {
			t.Fatalf("a forged mark counts as a chain awaiting re-keying: %d %v", n, err)
		}

		rep, err := store.Audit.RekeyLegacy(t.Context(), nil)
		if rep.Programs != 0 || rep.Events != 0 {
			t.Fatalf("rekey laundered the forged chain: %+v %v", rep, err)
		}
		if err == nil || !strings.Contains(err.Error(), "not authenticated") {
			t.Fatalf("rekey of a forged mark: %v, want a refusal naming the unauthenticated mark", err)
		}
		_, brk, err = store.Audit.VerifyChain(t.Context(), f.Program.ID)
		if err != nil || brk == nil || !strings.Contains(brk.Reason, "forged") {
			t.Fatalf("after the refused rekey: %v %v, want the forgery still reported", brk, err)
		}
	})
}
