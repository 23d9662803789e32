package web_test

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/web"
)

func TestConfigReadsTheAuditCheckpointFile(t *testing.T) {
	cfg, err := parseConfig("KEYDESK_AUDIT_CHECKPOINT_FILE", "/var/lib/keydesk/checkpoints.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AuditCheckpointFile != "/var/lib/keydesk/checkpoints.jsonl" || cfg.AuditCheckpointInterval != 10*time.Minute {
		t.Fatalf("checkpoint file %q every %s", cfg.AuditCheckpointFile, cfg.AuditCheckpointInterval)
	}
}

// Issue 21 item 2: checkpoints are on unless turned off. Unset, the file is
// next to the SQLite database (data/ for the embedded default) or, with
// PostgreSQL, data/audit-checkpoints.jsonl; "off" turns them off.
func TestConfigDefaultsTheAuditCheckpointFile(t *testing.T) {
	for _, c := range []struct {
		databaseURL, value, want string
	}{
		{"", "", "data/audit-checkpoints.jsonl"},
		{"sqlite:/srv/keydesk/keydesk.db", "", "/srv/keydesk/audit-checkpoints.jsonl"},
		{"sqlite:keydesk.db", "", "audit-checkpoints.jsonl"},
		{"postgres://keydesk@db.example.test/keydesk", "", "data/audit-checkpoints.jsonl"},
		{"postgres://keydesk@db.example.test/keydesk", "off", ""},
		{"", "off", ""},
		{"sqlite:/srv/keydesk/keydesk.db", "/var/log/keydesk/cp.jsonl", "/var/log/keydesk/cp.jsonl"},
	} {
		cfg, err := parseConfig("DATABASE_URL", c.databaseURL, "KEYDESK_AUDIT_CHECKPOINT_FILE", c.value)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.AuditCheckpointFile != c.want {
			t.Errorf("DATABASE_URL=%q KEYDESK_AUDIT_CHECKPOINT_FILE=%q: checkpoint file %q, want %q", c.databaseURL, c.value, cfg.AuditCheckpointFile, c.want)
		}
	}
}

// The server creates the checkpoint file's directory when it is missing
// (the PostgreSQL default data/ may not exist yet).
func TestServerCreatesTheCheckpointDirectory(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	modeltest.Seed(t, store, "Alpha")
	path := filepath.Join(t.TempDir(), "data", "audit-checkpoints.jsonl")
	cfg := config.Default(modeltest.MasterKey)
	cfg.AuditCheckpointFile = path
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint written into a missing directory")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("checkpoint directory: %v %v", fi.Mode(), err)
	}
}

// With KEYDESK_AUDIT_CHECKPOINT_FILE the server appends signed checkpoints
// at start and then periodically, and they verify against the trail.
func TestServerAppendsAuditCheckpoints(t *testing.T) {
	db := modeltest.SQLite(t)
	store := modeltest.NewStores(t, db)
	modeltest.Seed(t, store, "Alpha")
	modeltest.Seed(t, store, "Beta")
	path := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	cfg.AuditCheckpointFile = path
	cfg.AuditCheckpointInterval = 50 * time.Millisecond
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var cps []audit.Checkpoint
	deadline := time.Now().Add(10 * time.Second)
	for len(cps) < 4 && time.Now().Before(deadline) { // two rounds of two chains
		time.Sleep(20 * time.Millisecond)
		b, _ := os.ReadFile(path)
		var err error
		if cps, err = audit.ReadCheckpoints(strings.NewReader(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	srv.Close()
	if len(cps) < 4 {
		t.Fatalf("%d checkpoints written, want at start and at least once more", len(cps))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file mode: %v %v", fi.Mode(), err)
	}
	for _, cp := range cps {
		if err := store.Audit.VerifyCheckpoint(t.Context(), cp); err != nil {
			t.Fatal(err)
		}
	}
}
