package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
