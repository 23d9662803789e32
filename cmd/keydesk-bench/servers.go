package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildServer compiles the real keydesk binary into dir.
func buildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "keydesk")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/keydesk")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keydesk: %w", err)
	}
	return bin, nil
}

// server is one running `keydesk serve` process.
type server struct {
	name    string
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	logPath string
	exited  chan error
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs `keydesk serve` on a free loopback port with the given
// database and master key, its logs going to a file in dir, and waits until
// /healthz answers.
// extraEnv (KEY=value) is added to the server's environment.
func startServer(name, bin, dir, databaseURL, masterKey string, extraEnv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--addr", addr)
	cmd.Dir = dir // a relative data/ (master key file, default SQLite) stays in the bench directory
	cmd.Env = append(serverEnv(databaseURL, masterKey), extraEnv...)
	// Request logs are written as in production, to a file, not a terminal.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &server{name: name, base: "http://" + addr, cmd: cmd, logPath: logPath, exited: make(chan error, 1)}
	go func() {
		s.exited <- cmd.Wait()
		logFile.Close()
	}()
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("%s exited before answering (%v); its log:\n%s", name, err, tail(logPath, 20))
		default:
		}
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer /healthz within 30s; its log:\n%s", name, tail(logPath, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverEnv is the bench's environment minus any keydesk settings, plus the
// database and master key of this run.
func serverEnv(databaseURL, masterKey string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "KEYDESK_") {
			continue
		}
		env = append(env, kv)
	}
	// Scenario 6's receiver listens on loopback. Scenario 11 makes
	// thousands of management calls a minute with one key, to measure one
	// call's cost: its budget is lifted (the limiter still runs).
	return append(env, "DATABASE_URL="+databaseURL, "KEYDESK_MASTER_KEY="+masterKey, "KEYDESK_WEBHOOK_ALLOW_PRIVATE=true", "KEYDESK_MANAGE_LIMIT=0")
}

// stop sends SIGTERM and waits for a graceful exit (SIGKILL after 20 s).
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// peakRSS is the process's high-water resident set (VmHWM) in bytes.
func (s *server) peakRSS() (int64, error) {
	kb, err := procFieldKB(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid), "VmHWM:")
	return kb * 1024, err
}

// procFieldKB reads a "Field:  N kB" line of a /proc file such as
// /proc/meminfo or /proc/PID/status.
func procFieldKB(path, field string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(strings.TrimPrefix(sc.Text(), field))
		if !strings.HasPrefix(sc.Text(), field) || len(fields) == 0 {
			continue
		}
		return strconv.ParseInt(fields[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s in %s", field, path)
}

// tail returns the last n lines of a file (for error messages).
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
