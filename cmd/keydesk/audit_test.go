package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// auditRunCLI runs the keydesk command line and returns its exit code and
// what it printed.
func auditRunCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	outF, err := os.Create(dir + "/stdout")
	if err != nil {
		t.Fatal(err)
	}
	errF, err := os.Create(dir + "/stderr")
	if err != nil {
		t.Fatal(err)
	}
	oldOut, oldErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = outF, errF
	func() {
		defer func() { os.Stdout, os.Stderr = oldOut, oldErr }()
		code = run(args)
	}()
	read := func(f *os.File) string {
		f.Seek(0, io.SeekStart)
		b, _ := io.ReadAll(f)
		f.Close()
		return string(b)
	}
	return code, read(outF), read(errF)
}

func TestAuditVerifyCommand(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		t.Setenv("DATABASE_URL", db.URL)
		t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		beta := modeltest.Seed(t, store, "Beta")
		for i := range 5 {
			if err := store.Audit.Record(t.Context(), alpha.Program.ID, audit.Actor{Email: alpha.Full.Email}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// A failed sign-in for an unknown email lands in the system chain.
		if _, err := store.Accounts.Authenticate(t.Context(), "nobody@example.test", "wrong password!", audit.Actor{IP: "192.0.2.1"}); err == nil {
			t.Fatal("unknown email signed in")
		}

		code, out, errOut := auditRunCLI(t, "audit", "verify")
		if code != 0 || !strings.Contains(out, "audit trail intact") {
			t.Fatalf("intact: exit %d\n%s%s", code, out, errOut)
		}
		for _, p := range []int64{audit.SystemProgramID, alpha.Program.ID, beta.Program.ID} {
			if !strings.Contains(out, fmt.Sprintf("program %d: ", p)) {
				t.Fatalf("program %d not verified:\n%s", p, out)
			}
		}
		if code, out, _ := auditRunCLI(t, "audit", "verify", "--program", alpha.Program.PartnerID); code != 0 || !strings.Contains(out, fmt.Sprintf("program %d: 9 events verified", alpha.Program.ID)) {
			t.Fatalf("one program: exit %d\n%s", code, out)
		}
		if code, _, errOut := auditRunCLI(t, "audit", "verify", "--program", "0000000000"); code == 0 || !strings.Contains(errOut, "0000000000") {
			t.Fatalf("unknown program: exit %d %s", code, errOut)
		}

		// Tamper with the sixth event of Alpha's chain, then the fourth.
		gdb := store.DB
		protect := []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}
		if gdb.Dialector.Name() == "postgres" {
			protect = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
		}
		for _, s := range protect {
			if err := gdb.Exec(s).Error; err != nil {
				t.Fatal(err)
			}
		}
		var sixth, fourth, fifth audit.Event
		gdb.Where("program_id = ? AND seq = 6", alpha.Program.ID).Take(&sixth)
		gdb.Where("program_id = ? AND seq = 4", alpha.Program.ID).Take(&fourth)
		gdb.Where("program_id = ? AND seq = 5", alpha.Program.ID).Take(&fifth)
		if err := gdb.Exec(`UPDATE audit_events SET target_name = 'nothing to see' WHERE id = ?`, sixth.ID).Error; err != nil {
			t.Fatal(err)
		}
		code, _, errOut = auditRunCLI(t, "audit", "verify")
		want := fmt.Sprintf("audit chain of program %d broken at event #%d (seq 6)", alpha.Program.ID, sixth.ID)
		if code == 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "altered") {
			t.Fatalf("altered: exit %d, stderr %q, want %q", code, errOut, want)
		}
		// A removal earlier in the chain is now the first break.
		if err := gdb.Exec(`DELETE FROM audit_events WHERE id = ?`, fourth.ID).Error; err != nil {
			t.Fatal(err)
		}
		code, _, errOut = auditRunCLI(t, "audit", "verify", "--program", alpha.Program.PartnerID)
		want = fmt.Sprintf("broken at event #%d (seq 4)", fifth.ID)
		if code == 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "removed") {
			t.Fatalf("removed: exit %d, stderr %q, want %q", code, errOut, want)
		}
		// The other program still verifies on its own.
		if code, out, errOut := auditRunCLI(t, "audit", "verify", "--program", beta.Program.PartnerID); code != 0 {
			t.Fatalf("untouched program: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// auditUnguard removes the append-only guard, as the database owner could.
func auditUnguard(t *testing.T, gdb *gorm.DB) {
	t.Helper()
	stmts := []string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}
	if gdb.Dialector.Name() == "postgres" {
		stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
	}
	for _, s := range stmts {
		if err := gdb.Exec(s).Error; err != nil {
			t.Fatal(err)
		}
	}
}

func auditWriteFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditCheckpointAndPublicKeyCommands(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		t.Setenv("DATABASE_URL", db.URL)
		t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		modeltest.Seed(t, store, "Beta")

		code, out, errOut := auditRunCLI(t, "audit", "public-key")
		if code != 0 {
			t.Fatalf("public-key: exit %d %s", code, errOut)
		}
		var pub audit.PublicKey
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &pub); err != nil {
			t.Fatalf("public-key output %q: %v", out, err)
		}
		key, err := base64.StdEncoding.DecodeString(pub.PublicKey)
		if err != nil || len(key) != ed25519.PublicKeySize || pub.Algorithm != "ed25519" || !pub.Current {
			t.Fatalf("public key %+v: %v", pub, err)
		}

		code, out, errOut = auditRunCLI(t, "audit", "checkpoint")
		if code != 0 {
			t.Fatalf("checkpoint: exit %d %s", code, errOut)
		}
		cps, err := audit.ReadCheckpoints(strings.NewReader(out))
		if err != nil || len(cps) != 2 { // Alpha, Beta
			t.Fatalf("checkpoints %q: %d %v", out, len(cps), err)
		}
		// Anyone holding the public key checks them without keydesk.
		for _, cp := range cps {
			if cp.KeyVersion != pub.KeyVersion || cp.Seq == 0 || len(cp.Hash) != 64 {
				t.Fatalf("checkpoint %+v", cp)
			}
			sig, _ := base64.StdEncoding.DecodeString(cp.Signature)
			if len(sig) != ed25519.SignatureSize {
				t.Fatalf("signature of %+v", cp)
			}
		}
		code, out, _ = auditRunCLI(t, "audit", "checkpoint", "--program", alpha.Program.PartnerID)
		if cps, _ := audit.ReadCheckpoints(strings.NewReader(out)); code != 0 || len(cps) != 1 || cps[0].PartnerID != alpha.Program.PartnerID || cps[0].ProgramID != alpha.Program.ID {
			t.Fatalf("one program: exit %d %q", code, out)
		}
		if code, _, errOut := auditRunCLI(t, "audit", "checkpoint", "--program", "0000000000"); code == 0 || !strings.Contains(errOut, "0000000000") {
			t.Fatalf("unknown program: exit %d %s", code, errOut)
		}

		_, all, _ := auditRunCLI(t, "audit", "checkpoint")
		file := auditWriteFile(t, all)
		code, out, errOut = auditRunCLI(t, "audit", "verify", "--checkpoints", file)
		if code != 0 || !strings.Contains(out, "2 checkpoints in "+file+" match the audit trail") || !strings.Contains(out, "audit trail intact") {
			t.Fatalf("verify --checkpoints: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut = auditRunCLI(t, "audit", "verify", "--program", alpha.Program.PartnerID, "--checkpoints", file)
		if code != 0 || !strings.Contains(out, "1 checkpoints in") {
			t.Fatalf("verify --program --checkpoints: exit %d\n%s%s", code, out, errOut)
		}

		// A checkpoint whose seq or hash was changed no longer verifies.
		forged := strings.Replace(all, `"seq":`, `"seq":1`, 1)
		code, _, errOut = auditRunCLI(t, "audit", "verify", "--checkpoints", auditWriteFile(t, forged))
		if code == 0 || !strings.Contains(errOut, "bad signature") {
			t.Fatalf("forged checkpoint: exit %d %s", code, errOut)
		}
		if code, _, errOut := auditRunCLI(t, "audit", "verify", "--checkpoints", auditWriteFile(t, "not json\n")); code == 0 || !strings.Contains(errOut, "checkpoint line 1") {
			t.Fatalf("garbage file: exit %d %s", code, errOut)
		}
		if code, _, errOut := auditRunCLI(t, "audit", "verify", "--checkpoints", auditWriteFile(t, "")); code == 0 || !strings.Contains(errOut, "no checkpoint") {
			t.Fatalf("empty file: exit %d %s", code, errOut)
		}
		if code, _, errOut := auditRunCLI(t, "audit", "verify", "--checkpoints", filepath.Join(t.TempDir(), "missing")); code == 0 || !strings.Contains(errOut, "missing") {
			t.Fatalf("missing file: exit %d %s", code, errOut)
		}
	})
}

// Deleting the last events and fixing the head leaves a chain that verifies
// on its own: only a checkpoint kept outside the database shows it.
func TestAuditVerifyCheckpointsCatchesTruncation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		t.Setenv("DATABASE_URL", db.URL)
		t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		for i := range 4 {
			if err := store.Audit.Record(t.Context(), alpha.Program.ID, audit.Actor{Email: alpha.Full.Email}, audit.Entry{Action: audit.ActionKeyRevealed, TargetName: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
		code, out, errOut := auditRunCLI(t, "audit", "checkpoint")
		if code != 0 {
			t.Fatalf("checkpoint: exit %d %s", code, errOut)
		}
		file := auditWriteFile(t, out)
		var last int64
		store.DB.Raw(`SELECT MAX(seq) FROM audit_events WHERE program_id = ?`, alpha.Program.ID).Scan(&last)

		auditUnguard(t, store.DB)
		if err := store.DB.Exec(`DELETE FROM audit_events WHERE program_id = ? AND seq > ?`, alpha.Program.ID, last-2).Error; err != nil {
			t.Fatal(err)
		}
		if err := store.DB.Exec(`UPDATE audit_heads SET seq = ?, hash = (SELECT hash FROM audit_events WHERE program_id = ? AND seq = ?) WHERE program_id = ?`, last-2, alpha.Program.ID, last-2, alpha.Program.ID).Error; err != nil {
			t.Fatal(err)
		}
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 {
			t.Fatalf("the truncated chain alone should still verify (that is the gap checkpoints close): exit %d\n%s%s", code, out, errOut)
		}
		code, _, errOut = auditRunCLI(t, "audit", "verify", "--checkpoints", file)
		want := fmt.Sprintf("audit chain of program %d (partner %s) does not match the checkpoint", alpha.Program.ID, alpha.Program.PartnerID)
		if code == 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, fmt.Sprintf("truncated: the chain ends at seq %d, before the checkpointed seq %d", last-2, last)) {
			t.Fatalf("truncation: exit %d, stderr %q", code, errOut)
		}
	})
}

// Someone holding the master key can recompute a valid keyed chain after
// an edit; a checkpoint kept outside still tells.
func TestAuditVerifyCheckpointsCatchesARewriteWithTheMasterKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		t.Setenv("DATABASE_URL", db.URL)
		t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		beta := modeltest.Seed(t, store, "Beta")
		code, out, errOut := auditRunCLI(t, "audit", "checkpoint", "--program", beta.Program.PartnerID)
		if code != 0 {
			t.Fatalf("checkpoint: exit %d %s", code, errOut)
		}
		file := auditWriteFile(t, out)

		auditUnguard(t, store.DB)
		chainKeys := modeltest.Keyring(t).AuditKeys()
		var events []audit.Event
		store.DB.Where("program_id = ?", beta.Program.ID).Order("seq").Find(&events)
		prev := ""
		for i := range events {
			e := &events[i]
			if e.Seq == 2 {
				e.ActorEmail = "someone-else@example.test"
			}
			e.PrevHash = prev
			e.Hash, _ = chainKeys.ComputeHash(e)
			if err := store.DB.Save(e).Error; err != nil {
				t.Fatal(err)
			}
			prev = e.Hash
		}
		store.DB.Exec(`UPDATE audit_heads SET hash = ? WHERE program_id = ?`, prev, beta.Program.ID)
		if code, out, errOut := auditRunCLI(t, "audit", "verify"); code != 0 {
			t.Fatalf("a chain recomputed with the master key verifies on its own: exit %d\n%s%s", code, out, errOut)
		}
		code, _, errOut = auditRunCLI(t, "audit", "verify", "--checkpoints", file)
		if code == 0 || !strings.Contains(errOut, fmt.Sprintf("partner %s", beta.Program.PartnerID)) || !strings.Contains(errOut, "rewritten: the event at seq") {
			t.Fatalf("rewrite: exit %d, stderr %q", code, errOut)
		}
		// Alpha is untouched, and its checkpoints are not in the file.
		if code, _, errOut := auditRunCLI(t, "audit", "verify", "--program", alpha.Program.PartnerID, "--checkpoints", file); code == 0 || !strings.Contains(errOut, "no checkpoint") {
			t.Fatalf("no checkpoint for alpha: exit %d %s", code, errOut)
		}
	})
}
