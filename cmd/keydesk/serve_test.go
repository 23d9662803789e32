package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"keydesk/models/database"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"keydesk/models/migrations"
	"keydesk/models/modeltest"
)

// TestServeShutsDownGracefullyOnSIGTERM: SIGTERM makes `keydesk serve` shut
// its HTTP server down and exit 0, and --log-json writes JSON lines.
func TestServeShutsDownGracefullyOnSIGTERM(t *testing.T) {
	addr := freeAddr(t)
	cmd := exec.Command(keydeskBinary(t), "serve", "--addr", addr, "--log-json")
	cmd.Env = binEnv(modeltest.SQLite(t))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("keydesk did not exit within 20 s of SIGTERM")
	}
	// --log-json: every log line is a JSON object; the shutdown is logged.
	sawShutdown := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue // the plain "keydesk is serving on …" line for people
		}
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if entry["msg"] == "shutting down" && entry["signal"] == "terminated" {
			sawShutdown = true
		}
	}
	if !sawShutdown {
		t.Fatalf("no JSON shutdown line in the log:\n%s", logs.String())
	}
}

// TestMigrateCommand: `keydesk migrate` brings a fresh database to the
// current schema version, and running it again changes nothing.
func TestMigrateCommand(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		env := binEnv(db)
		for run := 1; run <= 2; run++ {
			out, err := runBinary(t, env, "", "migrate")
			want := fmt.Sprintf("database at schema version %d", migrations.SchemaVersion())
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("run %d: %v\n%s", run, err, out)
			}
		}
		gdb, err := database.Open(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if sqlDB, err := gdb.DB(); err == nil {
				sqlDB.Close()
			}
		}()
		var versions int64
		gdb.Raw(`SELECT COUNT(*) FROM schema_migrations`).Scan(&versions)
		if versions != int64(migrations.SchemaVersion()) {
			t.Fatalf("%d migrations recorded, want %d", versions, migrations.SchemaVersion())
		}
	})
}
