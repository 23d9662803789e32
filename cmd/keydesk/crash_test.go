package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// keydeskBinary builds the real command once per test run.
func keydeskBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keydesk-bin-")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "keydesk")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// binEnv is the environment the binary runs with. On SQLite the server's
// default checkpoint file lands next to the test's database file; with
// PostgreSQL it would land in data/ of this directory, so checkpoints are
// off unless extra names a file.
func binEnv(db modeltest.Database, extra ...string) []string {
	env := append(os.Environ(), "DATABASE_URL="+db.URL, "KEYDESK_MASTER_KEY="+base64.StdEncoding.EncodeToString(modeltest.MasterKey), "KEYDESK_MASTER_KEY_PREVIOUS=", "KEYDESK_AUDIT_CHECKPOINT_FILE=")
	if db.Name == "postgres" {
		env = append(env, "KEYDESK_AUDIT_CHECKPOINT_FILE=off")
	}
	return append(env, extra...)
}

// runBinary runs one subcommand to completion.
func runBinary(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(keydeskBinary(t), args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startServe starts `keydesk serve` and waits until it answers.
func startServe(t *testing.T, env []string, addr string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(keydeskBinary(t), "serve", "--addr", addr)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("keydesk serve did not become ready on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// console is a signed-in browser-like client of a running server.
type console struct {
	base string
	http *http.Client
	csrf string
}

func signIn(t *testing.T, base, email, password string) *console {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &console{base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := c.http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	u, _ := url.Parse(base)
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "keydesk_csrf" {
			c.csrf = ck.Value
		}
	}
	resp, err = c.http.PostForm(base+"/login", url.Values{"email": {email}, "password": {password}, "_csrf": {c.csrf}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d", resp.StatusCode)
	}
	// Signed in, the token is the session's own: read it from the page
	// the sign-in leads to, as the browser does.
	resp, err = c.http.Get(base + resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page after sign-in (status %d)", resp.StatusCode)
	}
	c.csrf = string(m[1])
	return c
}

// csrfField finds the CSRF token in a page's hidden _csrf field.
var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// action posts an htmx action and returns its status (0 when the server is
// gone).
func (c *console) action(path string, form url.Values) int {
	if form == nil {
		form = url.Values{}
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

type replayedKey struct {
	name   string
	active bool
}

// checkReplay replays the program's successful key events and compares the
// result with the api_keys table one to one: every key has its generated
// event, every edit and inactivation it shows has its event, and every
// event's effect is in the table (or the key's deleted event is).
func checkReplay(t *testing.T, store *modeltest.Stores, programID int64) (keyList, events int) {
	t.Helper()
	var evs []audit.Event
	if err := store.DB.Where("program_id = ? AND outcome = ? AND target_type = ?", programID, audit.OutcomeSuccess, "api_key").Order("seq").Find(&evs).Error; err != nil {
		t.Fatal(err)
	}
	want := map[string]*replayedKey{}
	for _, e := range evs {
		k := want[e.TargetID]
		switch e.Action {
		case audit.ActionKeyGenerated:
			if k != nil {
				t.Fatalf("key %s generated twice", e.TargetID)
			}
			want[e.TargetID] = &replayedKey{name: e.TargetName, active: true}
			continue
		case audit.ActionKeyRevealed, audit.ActionKeyCopied:
			continue
		}
		if k == nil {
			t.Fatalf("%s event (seq %d) for key %s that was never generated", e.Action, e.Seq, e.TargetID)
		}
		switch e.Action {
		case audit.ActionKeyUpdated:
			var d struct {
				After struct{ Name string } `json:"after"`
			}
			if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
				t.Fatal(err)
			}
			k.name = d.After.Name
		case audit.ActionKeyInactivated:
			k.active = false
		case audit.ActionKeyActivated:
			k.active = true
		case audit.ActionKeyDeleted:
			delete(want, e.TargetID)
		}
	}
	var rows []keys.APIKey
	if err := store.DB.Where("program_id = ? AND is_default = ?", programID, false).Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		k := want[r.Identifier]
		if k == nil {
			t.Fatalf("key %s (%q) has no generated event", r.Identifier, r.Name)
		}
		if k.name != r.Name || k.active != r.Active {
			t.Fatalf("key %s is %q active=%v, but its events say %q active=%v", r.Identifier, r.Name, r.Active, k.name, k.active)
		}
		delete(want, r.Identifier)
	}
	for id := range want {
		t.Fatalf("events say key %s exists, but it does not", id)
	}
	return len(rows), len(evs)
}

// TestKillDashNineDuringABurst kills the real server with SIGKILL while
// admins generate, edit, inactivate and delete keys, restarts it, and checks
// that the audit chain verifies and keys and events match one to one.
func TestKillDashNineDuringABurst(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		env := binEnv(db)
		out, err := runBinary(t, env, "", "programs", "create", "--name", "Crash Store")
		if err != nil {
			t.Fatalf("programs create: %v\n%s", err, out)
		}
		partnerID := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		const email, password = "crash@example.test", "a long enough password 1"
		if out, err := runBinary(t, env, password+"\n", "users", "create", "--program", partnerID, "--email", email, "--access", "full", "--password-stdin"); err != nil {
			t.Fatalf("users create: %v\n%s", err, out)
		}

		addr := freeAddr(t)
		server := startServe(t, env, addr)
		base := "http://" + addr
		admin := signIn(t, base, email, password)

		var done atomic.Int64
		var unexpected atomic.Value
		var wg sync.WaitGroup
		lookup := modeltest.Open(t, db)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					name := fmt.Sprintf("crash %d-%d", w, i)
					if code := admin.action("/general/api-keys", url.Values{"name": {name}}); code != http.StatusOK {
						if code != 0 {
							unexpected.Store(fmt.Sprintf("generate: %d", code))
						}
						return
					}
					done.Add(1)
					var k keys.APIKey
					if lookup.Where("name = ?", name).Take(&k).Error != nil {
						continue // the limit, or the server died mid-way
					}
					steps := []struct {
						path string
						form url.Values
					}{
						{fmt.Sprintf("/general/api-keys/%d/edit", k.ID), url.Values{"name": {name + " edited"}, "description": {"edited in the burst"}}},
						{fmt.Sprintf("/general/api-keys/%d/inactivate", k.ID), nil},
						{fmt.Sprintf("/general/api-keys/%d/delete", k.ID), nil},
					}
					if i%3 == 0 {
						steps = steps[:2] // keep some keys, inactive
					}
					for _, s := range steps {
						code := admin.action(s.path, s.form)
						if code == 0 {
							return
						}
						if code != http.StatusOK {
							unexpected.Store(fmt.Sprintf("%s: %d", s.path, code))
							return
						}
						done.Add(1)
					}
				}
			}()
		}
		deadline := time.Now().Add(10 * time.Second)
		for done.Load() < 40 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := server.Process.Kill(); err != nil { // SIGKILL: no shutdown, no flush
			t.Fatal(err)
		}
		_, _ = server.Process.Wait()
		wg.Wait()
		if u := unexpected.Load(); u != nil {
			t.Fatalf("unexpected answer during the burst: %v", u)
		}
		acked := done.Load()

		// Restart on the same database.
		startServe(t, env, addr)
		admin = signIn(t, base, email, password)
		if code := admin.action("/general/api-keys", url.Values{"name": {"after the crash"}}); code != http.StatusOK {
			t.Fatalf("generate after the restart: %d", code)
		}
		out, err = runBinary(t, env, "", "audit", "verify")
		if err != nil || !strings.Contains(out, "audit trail intact") {
			t.Fatalf("audit verify after kill -9: %v\n%s", err, out)
		}
		store := modeltest.Wrap(t, modeltest.Open(t, db), modeltest.Keyring(t))
		p, err := store.Accounts.ProgramByPartnerID(t.Context(), partnerID)
		if err != nil {
			t.Fatal(err)
		}
		keyList, events := checkReplay(t, store, p.ID)
		if int64(events) < acked {
			t.Fatalf("%d actions were acknowledged but only %d key events were kept", acked, events)
		}
		t.Logf("killed after %d acknowledged actions: %d key events, %d keys, chain intact", acked, events, keyList)
	})
}

// TestRotateMasterCommand rotates through the real command, interrupted by
// --max-keys, and proves every key opens under the new master key alone,
// unchanged.
func TestRotateMasterCommand(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		oldEnv := binEnv(db)
		for _, name := range []string{"Rotate A", "Rotate B"} {
			if out, err := runBinary(t, oldEnv, "", "programs", "create", "--name", name); err != nil {
				t.Fatalf("programs create: %v\n%s", err, out)
			}
		}
		store := modeltest.Wrap(t, modeltest.Open(t, db), modeltest.Keyring(t))
		var programs []accounts.Program
		if err := store.DB.Find(&programs).Error; err != nil {
			t.Fatal(err)
		}
		for _, p := range programs {
			for i := range 3 {
				if _, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{Email: "cli"}, keys.KeyInput{Name: fmt.Sprint("key ", i)}); err != nil {
					t.Fatal(err)
				}
			}
		}
		secrets := func(ring *keys.Keyring) map[int64]string {
			t.Helper()
			var keyList []keys.APIKey
			if err := store.DB.Find(&keyList).Error; err != nil {
				t.Fatal(err)
			}
			out := map[int64]string{}
			for _, k := range keyList {
				s, err := ring.Open(k.ID, k.Sealed, k.KeyVersion)
				if err != nil {
					t.Fatalf("key row %d does not open: %v", k.ID, err)
				}
				out[k.ID] = s
			}
			return out
		}
		originals := secrets(modeltest.Keyring(t))
		if len(originals) != 8 {
			t.Fatalf("%d keys, want 8", len(originals))
		}

		newKey := []byte("0011223344556677889900aabbccddee")
		newEnc := base64.StdEncoding.EncodeToString(newKey)
		rotEnv := binEnv(db, "KEYDESK_MASTER_KEY="+newEnc, "KEYDESK_MASTER_KEY_PREVIOUS="+base64.StdEncoding.EncodeToString(modeltest.MasterKey))

		// Without the previous key: refused, nothing changes.
		out, err := runBinary(t, binEnv(db, "KEYDESK_MASTER_KEY="+newEnc), "", "keys", "rotate-master")
		if err == nil || !strings.Contains(out, "KEYDESK_MASTER_KEY_PREVIOUS") {
			t.Fatalf("rotation without the previous key: %v\n%s", err, out)
		}
		out, err = runBinary(t, rotEnv, "", "keys", "rotate-master", "--batch-size", "2", "--max-keys", "3")
		if err != nil || !strings.Contains(out, "re-sealed 3 API keys") || !strings.Contains(out, "5 still under an older one") {
			t.Fatalf("interrupted rotation: %v\n%s", err, out)
		}
		// Meanwhile a server with both keys still opens every key.
		both, err := keys.NewKeyring(newKey, modeltest.MasterKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := secrets(both); fmt.Sprint(got) != fmt.Sprint(originals) {
			t.Fatal("keys changed during the rotation")
		}
		out, err = runBinary(t, rotEnv, "", "keys", "rotate-master", "--batch-size", "2")
		if err != nil || !strings.Contains(out, "re-sealed 5 API keys") || !strings.Contains(out, "rotation complete") {
			t.Fatalf("resumed rotation: %v\n%s", err, out)
		}
		alone, err := keys.NewKeyring(newKey)
		if err != nil {
			t.Fatal(err)
		}
		if got := secrets(alone); fmt.Sprint(got) != fmt.Sprint(originals) {
			t.Fatal("keys differ under the new master key")
		}
		newOnly := binEnv(db, "KEYDESK_MASTER_KEY="+newEnc)
		if out, err := runBinary(t, newOnly, "", "audit", "verify"); err != nil {
			t.Fatalf("audit verify after rotation: %v\n%s", err, out)
		}
		var rotated int64
		store.DB.Model(&audit.Event{}).Where("action = ?", audit.ActionMasterKeyRotated).Count(&rotated)
		if rotated < 4 { // batches of 2 never span programs: 3+5 keys in at least 4 transactions
			t.Fatalf("%d rotation events, want at least 4", rotated)
		}
		if out, err := runBinary(t, newOnly, "", "keys", "rotate-master"); err != nil || !strings.Contains(out, "re-sealed 0 API keys") {
			t.Fatalf("rotation with nothing to do: %v\n%s", err, out)
		}
	})
}
