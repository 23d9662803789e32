package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// auditCLIEnv points the command line at db with the test master key and
// the checkpoint file at checkpoints.
func auditCLIEnv(t *testing.T, db modeltest.Database, checkpoints string) {
	t.Setenv("DATABASE_URL", db.URL)
	t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
	t.Setenv("KEYDESK_MASTER_KEY_PREVIOUS", "")
	t.Setenv("KEYDESK_AUDIT_CHECKPOINT_FILE", checkpoints)
}

// auditAttackerUnguard lifts every guard of audit_events, as someone who
// owns the database (but not the master key) can: the append-only triggers
// and what refuses unkeyed events.
func auditAttackerUnguard(t *testing.T, gdb *gorm.DB) {
	t.Helper()
	auditUnguard(t, gdb)
	stmt := `DROP TRIGGER IF EXISTS audit_events_keyed_only`
	if gdb.Dialector.Name() == "postgres" {
		stmt = `ALTER TABLE audit_events DROP CONSTRAINT IF EXISTS audit_events_keyed_only`
	}
	if err := gdb.Exec(stmt).Error; err != nil {
		t.Fatal(err)
	}
}

// auditRewriteLegacy re-chains a program's events with the public legacy
// SHA-256 (no master key needed), keeping only the first keep events, and
// fixes the head.
func auditRewriteLegacy(t *testing.T, gdb *gorm.DB, programID, keep int64) {
	t.Helper()
	if err := gdb.Exec(`DELETE FROM audit_events WHERE program_id = ? AND seq > ?`, programID, keep).Error; err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	if err := gdb.Where("program_id = ?", programID).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	anyKeys := modeltest.Keyring(t).AuditKeys() // the legacy hash takes no key
	prev := ""
	for i := range events {
		e := &events[i]
		e.PrevHash, e.HashVersion, e.KeyVersion = prev, audit.HashLegacySHA256, 0
		e.Hash, _ = anyKeys.ComputeHash(e)
		if err := gdb.Exec(`UPDATE audit_events SET prev_hash = ?, hash = ?, hash_version = 0, key_version = 0 WHERE id = ?`, e.PrevHash, e.Hash, e.ID).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if err := gdb.Exec(`UPDATE audit_heads SET seq = ?, hash = ? WHERE program_id = ?`, len(events), prev, programID).Error; err != nil {
		t.Fatal(err)
	}
}

// Issue 21 item 2, end to end: a keyed chain cut and rewritten with the
// legacy SHA-256 plus a forged re-keying mark. audit verify does not advise
// rekey, audit rekey refuses, and the chain stays reported as forged.
func TestAuditRekeyCommandDoesNotLaunderAForgery(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		auditCLIEnv(t, db, "off")
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		for i := range 60 {
			if err := store.Audit.Record(t.Context(), alpha.Program.ID, audit.Actor{Email: alpha.Full.Email}, audit.Entry{Action: audit.ActionKeyRevealed, TargetName: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 {
			t.Fatalf("intact: exit %d\n%s%s", code, out, errOut)
		}

		auditAttackerUnguard(t, store.DB)
		auditRewriteLegacy(t, store.DB, alpha.Program.ID, 9) // 55 events erased
		if err := store.DB.Exec(`INSERT INTO audit_rekey_pending (program_id, through_seq) VALUES (?, 9)`, alpha.Program.ID).Error; err != nil {
			t.Fatal(err)
		}

		code, out, errOut := auditRunCLI(t, "audit", "verify")
		if code == 0 || strings.Contains(errOut+out, "rekey") || !strings.Contains(errOut, "forged") {
			t.Fatalf("verify of the forgery: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = auditRunCLI(t, "audit", "rekey")
		if code == 0 || !strings.Contains(out, "re-keyed 0 events in 0 audit chains") || !strings.Contains(errOut, "not authenticated") {
			t.Fatalf("rekey of the forgery: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code == 0 || !strings.Contains(errOut, "forged") {
			t.Fatalf("verify after the refused rekey: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// auditLegacyUpgrade builds a database as the release before the keyed
// chain left it, with a legacy chain of n events for programID; the next
// keydesk command migrates it (and seals its re-keying mark).
func auditLegacyUpgrade(t *testing.T, db modeltest.Database, programID int64, n int) *gorm.DB {
	t.Helper()
	gdb := modeltest.OpenBefore(t, db, "keyed audit chain")
	anyKeys := modeltest.Keyring(t).AuditKeys()
	prev := ""
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for seq := int64(1); seq <= int64(n); seq++ {
		e := audit.Event{ProgramID: programID, Seq: seq, PrevHash: prev, OccurredAt: at.Add(time.Duration(seq) * time.Minute),
			ActorEmail: "ana@example.test", Action: audit.ActionKeyUpdated, TargetType: audit.TargetAPIKey,
			TargetName: fmt.Sprintf("key %d", seq), Outcome: audit.OutcomeSuccess, Details: "{}"}
		e.Hash, _ = anyKeys.ComputeHash(&e)
		if err := gdb.Exec(`INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_email, action, target_type, target_name, outcome, details)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.ProgramID, e.Seq, e.PrevHash, e.Hash, e.OccurredAt, e.ActorEmail, e.Action, e.TargetType, e.TargetName, e.Outcome, e.Details).Error; err != nil {
			t.Fatal(err)
		}
		prev = e.Hash
	}
	if err := gdb.Exec(`INSERT INTO audit_heads (program_id, seq, hash) VALUES (?, ?, ?)`, programID, n, prev).Error; err != nil {
		t.Fatal(err)
	}
	return gdb
}

// The genuine upgrade still works, and a chain re-keyed once cannot be
// laundered again by replaying its mark after restoring the legacy events
// and cutting what followed: the chain alone cannot tell, the checkpoint
// file can, and both verify and rekey read it by default.
func TestAuditRekeyCommandRefusesAChainACheckpointShowsKeyed(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		const program = 42
		checkpoints := filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
		auditCLIEnv(t, db, checkpoints)
		gdb := auditLegacyUpgrade(t, db, program, 5)

		code, out, errOut := auditRunCLI(t, "audit", "verify")
		if code == 0 || !strings.Contains(errOut, "run `keydesk audit rekey`") {
			t.Fatalf("legacy chain after the upgrade: exit %d\n%s%s", code, out, errOut)
		}
		// Not checkpointed while it awaits re-keying.
		if code, out, errOut := auditRunCLI(t, "audit", "checkpoint"); code != 0 || strings.Contains(out, `"program_id":42`) || !strings.Contains(errOut, "program 42 awaits `keydesk audit rekey`") {
			t.Fatalf("checkpoint of a chain awaiting re-keying: exit %d\n%s%s", code, out, errOut)
		}
		type markRow struct {
			ProgramID   int64
			ThroughSeq  int64
			ThroughHash string
			KeyVersion  int64
			MAC         string
		}
		var mark markRow
		if err := gdb.Raw(`SELECT program_id, through_seq, through_hash, key_version, mac FROM audit_rekey_pending WHERE program_id = ?`, program).Scan(&mark).Error; err != nil || mark.MAC == "" {
			t.Fatalf("sealed mark: %+v %v", mark, err)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "rekey"); code != 0 || !strings.Contains(out, "re-keyed 5 events in 1 audit chains") {
			t.Fatalf("rekey: exit %d\n%s%s", code, out, errOut)
		}
		store := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		for range 3 {
			if err := store.Audit.Record(t.Context(), program, audit.Actor{Email: "ops@example.test"}, audit.Entry{Action: audit.ActionKeyRevealed}); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errOut = auditRunCLI(t, "audit", "checkpoint")
		if code != 0 {
			t.Fatalf("checkpoint: exit %d %s", code, errOut)
		}
		if err := os.WriteFile(checkpoints, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, "1 checkpoints in "+checkpoints+" match") || strings.Contains(out, "warning") {
			t.Fatalf("verify with the default checkpoint file: exit %d\n%s%s", code, out, errOut)
		}

		// The replay: legacy events 1-5 restored exactly, 6-8 cut, the
		// sealed mark put back.
		auditAttackerUnguard(t, gdb)
		auditRewriteLegacy(t, gdb, program, 5)
		if err := gdb.Exec(`INSERT INTO audit_rekey_pending (program_id, through_seq, through_hash, key_version, mac) VALUES (?, ?, ?, ?, ?)`,
			mark.ProgramID, mark.ThroughSeq, mark.ThroughHash, mark.KeyVersion, mark.MAC).Error; err != nil {
			t.Fatal(err)
		}
		code, out, errOut = auditRunCLI(t, "audit", "verify")
		if code == 0 || strings.Contains(errOut, "run `keydesk audit rekey`") || !strings.Contains(errOut, "do not run audit rekey") || !strings.Contains(errOut, "truncated") {
			t.Fatalf("verify of the replayed chain: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = auditRunCLI(t, "audit", "rekey")
		if code == 0 || !strings.Contains(out, "re-keyed 0 events in 0 audit chains") || !strings.Contains(errOut, "checkpoint contradicts") {
			t.Fatalf("rekey of the replayed chain: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// Issue 21 item 2: audit verify says plainly which newest events no
// checkpoint covers, reading the checkpoint file by default.
func TestAuditVerifySaysWhatNoCheckpointCovers(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		checkpoints := filepath.Join(t.TempDir(), "audit-checkpoints.jsonl")
		auditCLIEnv(t, db, checkpoints)
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha") // 4 events
		record := func() {
			if err := store.Audit.Record(t.Context(), alpha.Program.ID, audit.Actor{Email: alpha.Full.Email}, audit.Entry{Action: audit.ActionKeyRevealed}); err != nil {
				t.Fatal(err)
			}
		}

		code, out, errOut := auditRunCLI(t, "audit", "verify")
		if code != 0 || !strings.Contains(out, "warning: no checkpoint file at "+checkpoints) ||
			!strings.Contains(out, fmt.Sprintf("warning: no checkpoint covers events after seq 0 of program %d (its chain is at seq 4)", alpha.Program.ID)) {
			t.Fatalf("no checkpoint file: exit %d\n%s%s", code, out, errOut)
		}

		_, cps, _ := auditRunCLI(t, "audit", "checkpoint")
		if err := os.WriteFile(checkpoints, []byte(cps), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 || strings.Contains(out, "warning") || !strings.Contains(out, "match the audit trail") {
			t.Fatalf("covered: exit %d\n%s%s", code, out, errOut)
		}
		record()
		record()
		want := fmt.Sprintf("warning: no checkpoint covers events after seq 4 of program %d (its chain is at seq 6)", alpha.Program.ID)
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("newer events: exit %d\n%s%s", code, out, errOut)
		}
		// With --checkpoints too.
		if code, out, errOut := auditRunCLI(t, "audit", "verify", "--checkpoints", checkpoints); code != 0 || !strings.Contains(out, want) {
			t.Fatalf("newer events, --checkpoints: exit %d\n%s%s", code, out, errOut)
		}
		// The default file catches a truncation without being named.
		auditUnguard(t, store.DB)
		if err := store.DB.Exec(`DELETE FROM audit_events WHERE program_id = ? AND seq > 2`, alpha.Program.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := store.DB.Exec(`UPDATE audit_heads SET seq = 2, hash = (SELECT hash FROM audit_events WHERE program_id = ? AND seq = 2) WHERE program_id = ?`, alpha.Program.ID, alpha.Program.ID).Error; err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code == 0 || !strings.Contains(errOut, "truncated") {
			t.Fatalf("truncation against the default file: exit %d\n%s%s", code, out, errOut)
		}

		t.Setenv("KEYDESK_AUDIT_CHECKPOINT_FILE", "off")
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 || !strings.Contains(out, "warning: signed audit checkpoints are off") ||
			!strings.Contains(out, fmt.Sprintf("warning: no checkpoint covers events after seq 0 of program %d", alpha.Program.ID)) {
			t.Fatalf("checkpoints off: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// Unset, KEYDESK_AUDIT_CHECKPOINT_FILE means a file next to the SQLite
// database: `keydesk serve` writes it and `keydesk audit verify` reads it.
func TestServeWritesAuditCheckpointsByDefault(t *testing.T) {
	db := modeltest.SQLite(t)
	env := binEnv(db)
	if out, err := runBinary(t, env, "", "programs", "create", "--name", "Alpha"); err != nil {
		t.Fatalf("programs create: %v\n%s", err, out)
	}
	startServe(t, env, freeAddr(t))
	path := filepath.Join(filepath.Dir(strings.TrimPrefix(db.URL, "sqlite:")), "audit-checkpoints.jsonl")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), `"signature"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint written to %s", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, err := runBinary(t, env, "", "audit", "verify")
	if err != nil || !strings.Contains(out, "checkpoints in "+path+" match the audit trail") {
		t.Fatalf("audit verify with the default file: %v\n%s", err, out)
	}
}
