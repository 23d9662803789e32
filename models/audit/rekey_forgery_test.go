package audit_test

import (
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/migrations"
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
	auditDropKeyedOnly(t, db)
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

		rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
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

// auditDropKeyedOnly lifts what keeps unkeyed events out, as the database
// owner could.
func auditDropKeyedOnly(t *testing.T, db *gorm.DB) {
	t.Helper()
	stmt := `DROP TRIGGER IF EXISTS audit_events_keyed_only`
	if auditIsPostgres(db) {
		stmt = `ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_keyed_only`
	}
	if err := db.Exec(stmt).Error; err != nil {
		t.Fatal(err)
	}
}

// A genuine legacy chain keeps growing under the keyed hash until someone
// runs rekey. Rewriting those keyed events with the legacy hash and moving
// the mark over them is refused: the mark no longer authenticates, so
// verify calls the chain forged and rekey leaves it alone. Rewriting them
// without touching the mark is refused too, and verify then names the
// forged event rather than advising re-keying.
func TestRekeyRefusesKeyedEventsRewrittenAsLegacy(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 42
		gdb := auditLegacyDB(t, db, program, 5, nil)
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		if n, err := store.Audit.PendingRekey(t.Context()); err != nil || n != 1 {
			t.Fatalf("pending after the upgrade: %d %v", n, err)
		}
		for range 3 {
			if err := store.Audit.Record(t.Context(), program, audit.Actor{Email: "ops@example.test"}, audit.Entry{Action: audit.ActionKeyRevealed}); err != nil {
				t.Fatal(err)
			}
		}
		auditDisableProtection(t, gdb)
		auditDropKeyedOnly(t, gdb)
		legacy := func(e audit.Event) string {
			e.HashVersion = audit.HashLegacySHA256
			e.KeyVersion = 0
			return plainSHA256(e)
		}
		auditRechain(t, gdb, program, 6, func(e *audit.Event) {}, legacy)
		if err := gdb.Exec(`UPDATE audit_events SET hash_version = 0, key_version = 0 WHERE program_id = ? AND seq > 5`, program).Error; err != nil {
			t.Fatal(err)
		}

		// The mark untouched: verify names the first forged event.
		_, brk, err := store.Audit.VerifyChain(t.Context(), program)
		if err != nil || brk == nil || brk.Seq != 6 || !strings.Contains(brk.Reason, "forged") || brk.AwaitsRekey() {
			t.Fatalf("legacy events past the mark: %v %v, want a forgery at seq 6", brk, err)
		}
		rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
		if rep.Programs != 0 || err == nil || !strings.Contains(err.Error(), "seq 6") {
			t.Fatalf("rekey over legacy events past the mark: %+v %v", rep, err)
		}

		// The mark moved over them: it no longer authenticates.
		head := auditEventAt(t, gdb, program, 8)
		if err := gdb.Exec(`UPDATE audit_rekey_pending SET through_seq = 8, through_hash = ? WHERE program_id = ?`, head.Hash, program).Error; err != nil {
			t.Fatal(err)
		}
		_, brk, err = store.Audit.VerifyChain(t.Context(), program)
		if err != nil || brk == nil || brk.Seq != 1 || !strings.Contains(brk.Reason, "forged") || brk.AwaitsRekey() {
			t.Fatalf("moved mark: %v %v, want a forgery at seq 1 and no advice to re-key", brk, err)
		}
		rep, err = store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
		if rep.Programs != 0 || err == nil || !strings.Contains(err.Error(), "not authenticated") {
			t.Fatalf("rekey with a moved mark: %+v %v", rep, err)
		}
	})
}

// Only the process that migrates the database seals marks: a mark inserted
// into a database already past that migration stays unsealed, and a sealed
// mark copied to another program does not authenticate there.
func TestRekeyMarksAreSealedOnlyByTheUpgrade(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 42
		gdb := auditLegacyDB(t, db, program, 3, nil)
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		other := modeltest.Seed(t, store, "Alpha")
		auditAppendN(t, store, other.Program.ID, 2)

		// A copy of the genuine mark for another program.
		if err := gdb.Exec(`INSERT INTO audit_rekey_pending (program_id, through_seq, through_hash, key_version, mac)
			SELECT ?, through_seq, through_hash, key_version, mac FROM audit_rekey_pending WHERE program_id = ?`, other.Program.ID, program).Error; err != nil {
			t.Fatal(err)
		}
		// A later start: the schema is current, nothing is sealed.
		from, err := migrations.Version(t.Context(), gdb)
		if err != nil {
			t.Fatal(err)
		}
		if err := gdb.Exec(`INSERT INTO audit_rekey_pending (program_id, through_seq) VALUES (?, 1)`, audit.SystemProgramID).Error; err != nil {
			t.Fatal(err)
		}
		if n, err := store.Audit.SealRekeyMarks(t.Context(), from); err != nil || n != 0 {
			t.Fatalf("a start without migrating sealed %d marks: %v", n, err)
		}
		if n, err := store.Audit.PendingRekey(t.Context()); err != nil || n != 1 {
			t.Fatalf("authenticated marks: %d %v, want only the upgrade's", n, err)
		}
		if _, brk, err := store.Audit.VerifyChain(t.Context(), other.Program.ID); err != nil || brk != nil {
			t.Fatalf("a keyed chain with a copied mark: %v %v", brk, err)
		}
		rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
		if rep.Programs != 1 || rep.Events != 3 || err == nil || !strings.Contains(err.Error(), "not authenticated") ||
			!strings.Contains(err.Error(), fmt.Sprintf("program %d:", other.Program.ID)) || !strings.Contains(err.Error(), "program 0:") {
			t.Fatalf("rekey: %+v %v, want the genuine chain re-keyed and both forged marks refused", rep, err)
		}
	})
}

// A chain awaiting re-keying is not checkpointed: re-keying changes every
// hash, and a checkpoint says the chain was keyed when it was taken.
func TestCheckpointsLeaveOutChainsAwaitingRekey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 42
		gdb := auditLegacyDB(t, db, program, 3, nil)
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		other := modeltest.Seed(t, store, "Alpha")
		cps, err := store.Audit.Checkpoints(t.Context(), nil)
		if err != nil || len(cps) != 1 || cps[0].ProgramID != other.Program.ID {
			t.Fatalf("checkpoints before re-keying: %+v %v", cps, err)
		}
		if _, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil); err != nil {
			t.Fatal(err)
		}
		cps, err = store.Audit.Checkpoints(t.Context(), nil)
		if err != nil || len(cps) != 2 {
			t.Fatalf("checkpoints after re-keying: %+v %v", cps, err)
		}
	})
}
