package audit_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/migrations"
	"keydesk/models/modeltest"
)

// plainSHA256 is what an attacker without the master key computes: the
// pre-keyed hash, SHA-256 over the published canonical encoding.
func plainSHA256(e audit.Event) string {
	b, err := json.Marshal([]any{
		"keydesk-audit-v1",
		strconv.FormatInt(e.ProgramID, 10), strconv.FormatInt(e.Seq, 10), e.PrevHash,
		e.OccurredAt.UTC().Format(time.RFC3339Nano), strconv.FormatInt(e.ActorID, 10),
		e.ActorEmail, e.Action, e.TargetType, e.TargetID, e.TargetName, e.Outcome,
		e.IP, e.UserAgent, e.RequestID, e.Details,
	})
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// auditRechain rewrites a program's chain from seq from onwards with hash,
// relinking every later event and the head, as someone with write access
// to the database (and, for a keyed hash, whatever key hash holds) would.
func auditRechain(t *testing.T, db *gorm.DB, programID, from int64, edit func(e *audit.Event), hash func(e audit.Event) string) {
	t.Helper()
	var events []audit.Event
	if err := db.Where("program_id = ?", programID).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	prev := ""
	for i := range events {
		e := &events[i]
		if e.Seq < from {
			prev = e.Hash
			continue
		}
		if e.Seq == from {
			edit(e)
		}
		e.PrevHash = prev
		e.Hash = hash(*e)
		if err := db.Save(e).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	last := events[len(events)-1]
	if err := db.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, last.Seq, last.Hash, programID).Error; err != nil {
		t.Fatal(err)
	}
}

// Issue 11 item 4: an attacker who edits an event and recomputes every
// plain SHA-256 hash and the head is caught, because the chain's hash is
// keyed with a key derived from the master key.
func TestVerifyChainDetectsAChainRecomputedWithPlainSHA256(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, store, "Alpha")
		auditAppendN(t, store, f.Program.ID, 6)
		if _, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID); err != nil || brk != nil {
			t.Fatalf("intact chain: %v %v", brk, err)
		}
		auditDisableProtection(t, store.DB)
		auditRechain(t, store.DB, f.Program.ID, 5, func(e *audit.Event) { e.ActorEmail = "someone-else@example.test" }, plainSHA256)

		_, brk, err := store.Audit.VerifyChain(t.Context(), f.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if brk == nil {
			t.Fatal("a chain recomputed with plain SHA-256 after an edit verified as intact")
		}
		if brk.Seq != 5 || !strings.Contains(brk.Reason, "altered") {
			t.Fatalf("break at seq %d (%s), want seq 5, altered", brk.Seq, brk.Reason)
		}
	})
}

// auditLegacyDB is a database as the release before the keyed chain left
// it, holding a legacy (plain SHA-256) chain of n events for programID,
// then migrated to the current schema.
func auditLegacyDB(t *testing.T, db modeltest.Database, programID int64, n int, before func(gdb *gorm.DB)) *gorm.DB {
	t.Helper()
	gdb := modeltest.OpenBefore(t, db, "keyed audit chain")
	prev := ""
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for seq := int64(1); seq <= int64(n); seq++ {
		e := audit.Event{ProgramID: programID, Seq: seq, PrevHash: prev, OccurredAt: at.Add(time.Duration(seq) * time.Minute),
			ActorID: 3, ActorEmail: "ana@example.test", Action: audit.ActionKeyUpdated, TargetType: audit.TargetAPIKey,
			TargetID: fmt.Sprintf("kdi_legacy%d", seq), TargetName: fmt.Sprintf("key %d", seq), Outcome: audit.OutcomeSuccess,
			IP: "192.0.2.7", UserAgent: "legacy", RequestID: fmt.Sprintf("req-%d", seq), Details: `{"n":1}`}
		e.Hash = plainSHA256(e)
		if err := gdb.Exec(`INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_id, actor_email, action, target_type, target_id, target_name, outcome, ip, user_agent, request_id, details)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ProgramID, e.Seq, e.PrevHash, e.Hash, e.OccurredAt, e.ActorID, e.ActorEmail, e.Action,
			e.TargetType, e.TargetID, e.TargetName, e.Outcome, e.IP, e.UserAgent, e.RequestID, e.Details).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if err := gdb.Exec(`INSERT INTO audit_heads (program_id, seq, hash) VALUES (?, ?, ?)`, programID, n, prev).Error; err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(gdb)
	}
	auditUpgrade(t, gdb)
	return gdb
}

// auditUpgrade migrates gdb as keydesk does at start: the process that
// applies the migrations seals the re-keying marks they wrote.
func auditUpgrade(t *testing.T, gdb *gorm.DB) {
	t.Helper()
	from, err := migrations.Version(t.Context(), gdb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Migrate(t.Context(), gdb); err != nil {
		t.Fatal(err)
	}
	if _, err := modeltest.Wrap(t, gdb, modeltest.Keyring(t)).Audit.SealRekeyMarks(t.Context(), from); err != nil {
		t.Fatal(err)
	}
}

// A chain written with the old encoding is re-keyed once by RekeyLegacy,
// then verifies; an edit afterwards fails.
func TestLegacyChainIsRekeyedThenEditsFail(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 42
		gdb := auditLegacyDB(t, db, program, 5, nil)
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))

		_, brk, err := store.Audit.VerifyChain(t.Context(), program)
		if err != nil || brk == nil || brk.Seq != 1 || !strings.Contains(brk.Reason, "keydesk audit rekey") {
			t.Fatalf("legacy chain before re-keying: %v %v, want a break asking for keydesk audit rekey", brk, err)
		}
		if n, err := store.Audit.PendingRekey(t.Context()); err != nil || n != 1 {
			t.Fatalf("pending: %d %v", n, err)
		}
		// An older binary's unkeyed insert is refused.
		err = gdb.Exec(`INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, action, outcome) VALUES (?, 6, '', '', CURRENT_TIMESTAMP, 'x', 'success')`, program).Error
		if err == nil {
			t.Fatal("an unkeyed event was accepted")
		}

		rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
		if err != nil || rep.Programs != 1 || rep.Events != 5 {
			t.Fatalf("rekey: %+v %v", rep, err)
		}
		if rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil); err != nil || rep.Programs != 0 {
			t.Fatalf("second rekey: %+v %v", rep, err)
		}
		// The re-keyed chain records it, under the keyed hash.
		if e := auditEventAt(t, gdb, program, 6); e.Action != audit.ActionAuditRekeyed || e.ActorEmail != "ops@example.test" || e.HashVersion != audit.HashHMACv1 ||
			!strings.Contains(e.Details, `"events":5`) || !strings.Contains(e.Details, `"legacy_through_seq":5`) {
			t.Fatalf("event after re-keying: %+v", e)
		}
		if err := store.Audit.Record(t.Context(), program, audit.Actor{Email: "ops@example.test"}, audit.Entry{Action: audit.ActionAuditVerified}); err != nil {
			t.Fatal(err)
		}
		n, brk, err := store.Audit.VerifyChain(t.Context(), program)
		if err != nil || brk != nil || n != 7 {
			t.Fatalf("re-keyed chain: n=%d %v %v", n, brk, err)
		}
		// The append-only guard is back.
		if err := gdb.Exec(`UPDATE audit_events SET target_name = 'x'`).Error; err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("update after rekey: %v", err)
		}

		// Someone with write access edits event 3 and recomputes the chain
		// with the old hash, marking it legacy again: refused both ways.
		auditDisableProtection(t, gdb)
		if auditIsPostgres(gdb) {
			if err := gdb.Exec(`ALTER TABLE audit_events DROP CONSTRAINT audit_events_keyed_only`).Error; err != nil {
				t.Fatal(err)
			}
		}
		auditRechain(t, gdb, program, 3, func(e *audit.Event) {
			e.TargetName = "forged"
			e.HashVersion = audit.HashLegacySHA256
		}, func(e audit.Event) string { e.HashVersion = audit.HashLegacySHA256; return plainSHA256(e) })
		_, brk, err = store.Audit.VerifyChain(t.Context(), program)
		if err != nil || brk == nil || brk.Seq != 3 || !strings.Contains(brk.Reason, "forged") {
			t.Fatalf("edited after rekey: %v %v, want a break at seq 3", brk, err)
		}
		if rep, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil); err != nil || rep.Programs != 0 {
			t.Fatalf("rekey must not launder a forged chain: %+v %v", rep, err)
		}
	})
}

// A legacy chain that is already broken is not re-keyed: that would make
// the break invisible.
func TestRekeyRefusesABrokenLegacyChain(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 7
		gdb := auditLegacyDB(t, db, program, 4, func(gdb *gorm.DB) {
			auditDisableProtection(t, gdb)
			if err := gdb.Exec(`UPDATE audit_events SET actor_email = 'eve@example.test' WHERE program_id = ? AND seq = 2`, program).Error; err != nil {
				t.Fatal(err)
			}
		})
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		_, err := store.Audit.RekeyLegacy(t.Context(), audit.Actor{Email: "ops@example.test"}, nil)
		if err == nil || !strings.Contains(err.Error(), "refusing to re-key") || !strings.Contains(err.Error(), "seq 2") {
			t.Fatalf("rekey of a broken chain: %v", err)
		}
		if n, _ := store.Audit.PendingRekey(t.Context()); n != 1 {
			t.Fatal("a refused chain lost its pending mark")
		}
	})
}
