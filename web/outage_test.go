package web_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// pgCluster is a PostgreSQL server of the test's own, so the test may stop
// and start it.
type pgCluster struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

// startPostgres initdb's a cluster into a temporary directory and starts it
// on a free port. It skips, saying why, when the server binaries are missing,
// except under CI=true.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin, but CI=true requires the outage test")
		}
		t.Skip("outage test skipped: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin")
	}
	// Not t.TempDir: its parent is private to us, and the server may have
	// to run as another user.
	dir, err := os.MkdirTemp("", "keydesk-pg-")
	if err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{t: t, bin: filepath.Dir(matches[len(matches)-1]), dir: dir, port: freePort(t)}
	t.Cleanup(func() {
		c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop")
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("outage test skipped: running as root and there is no postgres user to run the server as")
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.run("initdb", "-D", c.data(), "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.start()
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// run runs a server binary, as the postgres user when we are root.
func (c *pgCluster) run(name string, args ...string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, name)}, args...)...)
	}
	return cmd.CombinedOutput()
}

func (c *pgCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)
	if out, err := c.run("pg_ctl", "-D", c.data(), "-o", opts, "-l", filepath.Join(c.dir, "server.log"), "-w", "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

func (c *pgCluster) stop() {
	c.t.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", c.port)
}

// apiGet calls the REST API with a key.
func apiGet(t *testing.T, ts *testServer, path, partnerID, key string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ts.URL+path, nil)
	req.Header.Set("partner-id", partnerID)
	req.Header.Set("api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

// checkKeysMatchEvents asserts that no action is half done: every key of
// the program has exactly one successful generated event, every successful
// generated event names a key that exists or was deleted (with its deleted
// event), a deleted key is gone, and every chain verifies. It returns the
// number of keys.
func checkKeysMatchEvents(t *testing.T, store *modeltest.Stores, programID int64) (keyList int) {
	t.Helper()
	var rows []keys.APIKey
	if err := store.DB.Where("program_id = ? AND is_default = ?", programID, false).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	var events []audit.Event
	if err := store.DB.Where("program_id = ? AND outcome = ?", programID, audit.OutcomeSuccess).Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	generated, deleted := map[string]int{}, map[string]int{}
	for _, e := range events {
		switch e.Action {
		case audit.ActionKeyGenerated:
			generated[e.TargetID]++
		case audit.ActionKeyDeleted:
			deleted[e.TargetID]++
		}
	}
	exists := map[string]bool{}
	for _, k := range rows {
		exists[k.Identifier] = true
		if generated[k.Identifier] != 1 || deleted[k.Identifier] != 0 {
			t.Fatalf("key %s (%q) has %d generated and %d deleted events, want 1 and 0", k.Identifier, k.Name, generated[k.Identifier], deleted[k.Identifier])
		}
	}
	for id, n := range generated {
		if !exists[id] && (n != 1 || deleted[id] != 1) {
			t.Fatalf("key %s: %d generated and %d deleted events, but no row", id, n, deleted[id])
		}
	}
	for id := range deleted {
		if generated[id] != 1 {
			t.Fatalf("deleted event for key %s that was never generated", id)
		}
	}
	ids, err := store.Audit.ChainIDs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, brk, err := store.Audit.VerifyChain(t.Context(), id); err != nil || brk != nil {
			t.Fatalf("chain %d: %v %v", id, brk, err)
		}
	}
	return len(rows)
}

func TestDatabaseOutageAndRecovery(t *testing.T) {
	pg := startPostgres(t)
	ts := newTestServer(t, modeltest.Database{Name: "postgres", URL: pg.url()})
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	if resp, _ := generate(t, admin, "Before the outage"); resp.StatusCode != http.StatusOK {
		t.Fatalf("generate: %d", resp.StatusCode)
	}
	before := keyByName(t, ts, ts.Demo.Program.ID, "Before the outage")
	secret := secretOf(t, ts, before)
	if resp, _ := apiGet(t, ts, "/v2/loyalty/program", ts.Demo.Program.PartnerID, secret); resp.StatusCode != http.StatusOK {
		t.Fatalf("API before the outage: %d", resp.StatusCode)
	}
	defaultKey, err := ts.Store.Keys.Default(t.Context(), ts.Demo.Program.ID)
	if err != nil {
		t.Fatal(err)
	}
	uncached := secretOf(t, ts, *defaultKey)

	// A burst of generate → inactivate → delete cycles, during which the
	// database goes away: each answer is a success or a 503, never a 500.
	var wg sync.WaitGroup
	var ok, unavailable atomic.Int64
	stopBurst := make(chan struct{})
	var unexpected atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopBurst:
					return
				default:
				}
				name := fmt.Sprintf("burst %d-%d", w, i)
				var k keys.APIKey
				for step := 0; step < 3; step++ {
					path := "/general/api-keys"
					form := url.Values{"name": {name}}
					if step > 0 {
						if k.ID == 0 && ts.Store.DB.Where("program_id = ? AND name = ?", ts.Demo.Program.ID, name).Take(&k).Error != nil {
							break
						}
						path, form = fmt.Sprintf("/general/api-keys/%d/%s", k.ID, []string{"", "inactivate", "delete"}[step]), nil
					}
					resp, body := admin.htmx(http.MethodPost, path, form)
					switch resp.StatusCode {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusServiceUnavailable:
						unavailable.Add(1)
						time.Sleep(20 * time.Millisecond)
					default:
						unexpected.Store(fmt.Sprintf("%s: status %d: %s", path, resp.StatusCode, body))
						return
					}
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	pg.stop()
	time.Sleep(300 * time.Millisecond)
	close(stopBurst)
	wg.Wait()
	if u := unexpected.Load(); u != nil {
		t.Fatalf("burst during the outage: %v", u)
	}
	t.Logf("burst: %d actions succeeded, %d refused with 503", ok.Load(), unavailable.Load())
	if ok.Load() == 0 || unavailable.Load() == 0 {
		t.Fatalf("the burst did not straddle the outage: %d succeeded, %d refused", ok.Load(), unavailable.Load())
	}

	// The console: a friendly page, not a sign-out and not a 500.
	resp, body := admin.get("/general/api-keys")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Temporarily unavailable") || !strings.Contains(body, "try again") {
		t.Fatalf("console during the outage: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("console 503 headers: %v", resp.Header)
	}
	resp, body = admin.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {"During the outage"}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "temporarily unavailable") {
		t.Fatalf("htmx action during the outage: %d %s", resp.StatusCode, body)
	}
	resp, _ = admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/inactivate", before.ID), nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("inactivate during the outage: %d", resp.StatusCode)
	}
	anonymous := ts.newClient(t)
	resp, body = anonymous.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}})
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Temporarily unavailable") {
		t.Fatalf("sign-in during the outage: %d\n%s", resp.StatusCode, body)
	}

	// The API: 503 JSON in the contract's shape, never a 401 that would
	// tell an integrator their key was revoked.
	for _, k := range []string{secret, uncached} {
		resp, js := apiGet(t, ts, "/v2/loyalty/members", ts.Demo.Program.PartnerID, k)
		if resp.StatusCode != http.StatusServiceUnavailable || js["success"] != false || js["error_code"] != "ERROR_SERVICE_UNAVAILABLE" || js["reason"] == "" || js["reason"] == nil {
			t.Fatalf("API during the outage: %d %v", resp.StatusCode, js)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("API 503 content type %q", resp.Header.Get("Content-Type"))
		}
	}

	// Probes: not ready, but alive.
	if resp, _ := anonymous.get("/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz during the outage: %d", resp.StatusCode)
	}
	if resp, _ := anonymous.get("/healthz"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz during the outage: %d", resp.StatusCode)
	}
	if strings.Contains(ts.Logs.String(), secret) || strings.Contains(ts.Logs.String(), modeltest.Password) {
		t.Fatal("a secret reached the logs during the outage")
	}

	// Recovery without restarting keydesk: the same session works again.
	pg.start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, _ := anonymous.get("/readyz")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after the database came back", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, body = admin.get("/general/api-keys")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Before the outage") {
		t.Fatalf("console after the outage: %d", resp.StatusCode)
	}
	if resp, _ := generate(t, admin, "After the outage"); resp.StatusCode != http.StatusOK {
		t.Fatalf("generate after the outage: %d", resp.StatusCode)
	}
	resp, js := apiGet(t, ts, "/v2/loyalty/members", ts.Demo.Program.PartnerID, uncached)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API after the outage: %d %v", resp.StatusCode, js)
	}
	if resp, _ := anonymous.post("/login", url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in after the outage: %d", resp.StatusCode)
	}
	if _, err := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, before.ID); err != nil {
		t.Fatal(err)
	}
	if k := keyByName(t, ts, ts.Demo.Program.ID, "Before the outage"); !k.Active {
		t.Fatal("the inactivation refused during the outage happened anyway")
	}
	if n := checkKeysMatchEvents(t, ts.Store, ts.Demo.Program.ID); n < 2 {
		t.Fatalf("%d keys after the outage, want at least 2", n)
	}
}
