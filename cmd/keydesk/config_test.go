package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keydesk/models/modeltest"
)

// On the embedded default without KEYDESK_MASTER_KEY, `keydesk migrate`
// generates data/master.key once (mode 0600, with a warning) and every
// later command reads the same key: config.Parse only names the file,
// cmd/keydesk writes it.
func TestConfigMasterKeyFileGeneratedByMigrate(t *testing.T) {
	dir := t.TempDir()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYDESK_") && !strings.HasPrefix(kv, "DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	migrate := func() string {
		t.Helper()
		cmd := exec.Command(keydeskBinary(t), "migrate")
		cmd.Env, cmd.Dir = env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, out)
		}
		return string(out)
	}
	out := migrate()
	if !strings.Contains(out, "KEYDESK_MASTER_KEY is not set: generated a master key") {
		t.Errorf("no warning about the generated master key:\n%s", out)
	}
	path := filepath.Join(dir, "data", "master.key")
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, mode)
	}
	first, _ := os.ReadFile(path)
	if out := migrate(); strings.Contains(out, "generated a master key") {
		t.Errorf("a second run generated another key:\n%s", out)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(first, again) {
		t.Error("the master key file changed on the second run")
	}
}

// A KEYDESK_BASE_URL that cannot carry passkeys (an IP address) stops
// `keydesk serve` at start, naming the variable, instead of serving and
// answering every passkey request 409.
func TestServeRefusesABaseURLWithoutPasskeys(t *testing.T) {
	db := modeltest.SQLite(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, keydeskBinary(t), "serve", "--addr", "127.0.0.1:0")
	cmd.Env = binEnv(db, "KEYDESK_BASE_URL=http://10.0.0.5:8080")
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("serve started with KEYDESK_BASE_URL on an IP address:\n%s", out)
	}
	if err == nil || !strings.Contains(string(out), `KEYDESK_BASE_URL "http://10.0.0.5:8080" cannot carry passkeys`) {
		t.Fatalf("serve: %v\n%s", err, out)
	}
}
