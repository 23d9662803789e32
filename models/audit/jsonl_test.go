package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// TestAuditJSONLCarriesAVerifiableChain exports more than one batch and
// checks what a SIEM would: every line parses, lines come in chain order,
// each prev_hash is the hash of the line before, and each hash recomputes
// from the line's own fields under the chain key. The download is audited
// and no other program's event leaks in.
func TestAuditJSONLCarriesAVerifiableChain(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Alpha")
		other := modeltest.Seed(t, store, "Beta")
		const n = 1205
		err := store.DB.Transaction(func(tx *gorm.DB) error {
			for i := range n {
				err := store.Audit.Append(tx, fx.Program.ID, audit.Actor{Email: "a@x.test", IP: "192.0.2.1"}, audit.Entry{
					Action: audit.ActionKeyCopied, TargetType: audit.TargetAPIKey, TargetID: "kdi_x",
					TargetName: fmt.Sprintf("<row> \"%d\"\n", i), Details: map[string]any{"i": i, "html": "<&>"},
				})
				if err != nil {
					return err
				}
			}
			return store.Audit.Append(tx, other.Program.ID, audit.Actor{}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: "foreign"})
		})
		if err != nil {
			t.Fatal(err)
		}
		f, err := audit.FilterInput{Period: audit.PeriodAll}.Resolve(store.Now())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		rows, err := store.Audit.DownloadJSONL(context.Background(), &buf, fx.Program.ID, fx.Program.PartnerID, audit.Actor{Email: fx.Support.Email}, f)
		if err != nil {
			t.Fatal(err)
		}
		keys := modeltest.Keyring(t).AuditKeys()
		sc := bufio.NewScanner(&buf)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var prev *audit.JSONLine
		lines := 0
		for sc.Scan() {
			var l audit.JSONLine
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&l); err != nil {
				t.Fatalf("line %d does not parse: %v\n%s", lines, err, sc.Text())
			}
			lines++
			if l.ProgramID != fx.Program.ID || l.PartnerID != fx.Program.PartnerID || l.TargetName == "foreign" {
				t.Fatalf("line %d from another program: %+v", lines, l)
			}
			if l.HashVersion == 0 || l.KeyVersion == 0 {
				t.Fatalf("line %d lacks hash or key version: %+v", lines, l)
			}
			if prev != nil && (l.Seq != prev.Seq+1 || l.PrevHash != prev.Hash) {
				t.Fatalf("line %d does not follow the previous: seq %d after %d, prev_hash %s vs %s", lines, l.Seq, prev.Seq, l.PrevHash, prev.Hash)
			}
			at, err := time.Parse(time.RFC3339Nano, l.OccurredAt)
			if err != nil {
				t.Fatal(err)
			}
			e := audit.Event{
				ID: l.EventID, ProgramID: l.ProgramID, Seq: l.Seq, PrevHash: l.PrevHash, OccurredAt: at,
				ActorID: l.ActorID, ActorEmail: l.ActorEmail, Action: l.Action, TargetType: l.TargetType,
				TargetID: l.TargetID, TargetName: l.TargetName, Outcome: l.Outcome, IP: l.IP,
				UserAgent: l.UserAgent, RequestID: l.RequestID, Details: l.Details,
				HashVersion: l.HashVersion, KeyVersion: l.KeyVersion,
			}
			if h, ok := keys.ComputeHash(&e); !ok || h != l.Hash {
				t.Fatalf("line %d: hash does not recompute from the exported fields (%v)", lines, ok)
			}
			prev = &l
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if int64(lines) != rows || rows < n+1 {
			t.Fatalf("%d lines, %d rows reported, want at least %d", lines, rows, n+1)
		}
		if prev.Action != audit.ActionAuditDownloaded || !strings.Contains(prev.Details, `"jsonl"`) || prev.ActorEmail != fx.Support.Email {
			t.Fatalf("download not audited as the last line: %+v", prev)
		}
	})
}

// TestAuditJSONLHonoursFilters: the export applies the same filters as the page.
func TestAuditJSONLHonoursFilters(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	fx := modeltest.Seed(t, store, "Alpha")
	for i := range 6 {
		action := audit.ActionKeyCopied
		if i%2 == 0 {
			action = audit.ActionKeyRevealed
		}
		if err := store.Audit.Record(context.Background(), fx.Program.ID, audit.Actor{}, audit.Entry{Action: action}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := audit.FilterInput{Action: audit.ActionKeyRevealed}.Resolve(store.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rows, err := store.Audit.WriteJSONL(context.Background(), &buf, fx.Program.ID, "", f)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || strings.Count(buf.String(), "\n") != 3 || strings.Contains(buf.String(), audit.ActionKeyCopied) {
		t.Fatalf("%d rows:\n%s", rows, buf.String())
	}
	// Since bounds the export too (the CLI's --since).
	f.Since = store.Now().Add(time.Hour)
	buf.Reset()
	if rows, err := store.Audit.WriteJSONL(context.Background(), &buf, fx.Program.ID, "", f); err != nil || rows != 0 {
		t.Fatalf("since in the future: %d rows, %v", rows, err)
	}
}
