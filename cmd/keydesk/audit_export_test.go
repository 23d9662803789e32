package main

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

func TestAuditExportCommand(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		t.Setenv("DATABASE_URL", db.URL)
		t.Setenv("KEYDESK_MASTER_KEY", base64.StdEncoding.EncodeToString(modeltest.MasterKey))
		store := modeltest.NewStores(t, db)
		alpha := modeltest.Seed(t, store, "Alpha")
		beta := modeltest.Seed(t, store, "Beta")
		if err := store.Audit.Record(t.Context(), alpha.Program.ID, audit.Actor{Email: alpha.Full.Email}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: "only alpha"}); err != nil {
			t.Fatal(err)
		}
		parse := func(out string) []audit.JSONLine {
			var lines []audit.JSONLine
			for _, s := range strings.Split(strings.TrimSpace(out), "\n") {
				if s == "" {
					continue
				}
				var l audit.JSONLine
				if err := json.Unmarshal([]byte(s), &l); err != nil {
					t.Fatalf("not JSON Lines: %v: %q", err, s)
				}
				lines = append(lines, l)
			}
			return lines
		}

		code, out, stderr := auditRunCLI(t, "audit", "export", "--program", alpha.Program.PartnerID)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := parse(out)
		if len(lines) < 2 || lines[len(lines)-1].TargetName != "only alpha" {
			t.Fatalf("alpha export: %+v", lines)
		}
		for i, l := range lines {
			if l.PartnerID != alpha.Program.PartnerID || l.Seq != int64(i+1) || l.Hash == "" || l.HashVersion == 0 {
				t.Fatalf("line %d: %+v", i, l)
			}
		}

		code, out, _ = auditRunCLI(t, "audit", "export")
		partners := map[string]bool{}
		for _, l := range parse(out) {
			partners[l.PartnerID] = true
		}
		if code != 0 || !partners[alpha.Program.PartnerID] || !partners[beta.Program.PartnerID] {
			t.Fatalf("export of every chain: exit %d, partners %v", code, partners)
		}

		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if code, out, _ = auditRunCLI(t, "audit", "export", "--since", future); code != 0 || strings.TrimSpace(out) != "" {
			t.Fatalf("--since in the future: exit %d, %q", code, out)
		}
		if code, _, stderr = auditRunCLI(t, "audit", "export", "--since", "yesterday"); code == 0 || !strings.Contains(stderr, "RFC 3339") {
			t.Fatalf("bad --since: exit %d, %q", code, stderr)
		}
	})
}
