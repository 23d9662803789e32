package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

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
