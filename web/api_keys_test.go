package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// generate creates a key through the Generate dialog's POST.
func generate(t *testing.T, c *client, name string) (*http.Response, string) {
	t.Helper()
	return c.htmx(http.MethodPost, "/general/api-keys", url.Values{"name": {name}, "description": {"for " + name}})
}

func keyByName(t *testing.T, ts *testServer, programID int64, name string) keys.APIKey {
	t.Helper()
	keyList, err := ts.Store.Keys.List(t.Context(), programID)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keyList {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no key named %q", name)
	return keys.APIKey{}
}

// secretOf unseals a key directly, without an audited reveal.
func secretOf(t *testing.T, ts *testServer, k keys.APIKey) string {
	t.Helper()
	secret, err := ts.Store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func reauth(t *testing.T, c *client, password string) string {
	t.Helper()
	resp, body := c.htmx(http.MethodPost, "/general/reauth", url.Values{"password": {password}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reauth: %d", resp.StatusCode)
	}
	return resp.Header.Get("HX-Trigger") + body
}

func TestAPIKeyActionsThroughTheRouter(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)

		resp, body := c.get("/general/api-keys")
		doc := parseHTML(t, body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(doc.Find("#keys-panel").Text(), "No API keys yet") || !strings.Contains(body, "0 of 20") {
			t.Fatalf("empty state missing (status %d)", resp.StatusCode)
		}
		if strings.TrimSpace(doc.Find("#keys-panel button.btn-primary").Text()) != "Generate API Key" {
			t.Fatal("Generate API Key button missing")
		}
		// The password re-prompt lets password managers fill the right account.
		if v, _ := doc.Find("#reauth-form input[name=username]").Attr("value"); v != ts.Demo.Full.Email {
			t.Fatalf("re-prompt username field = %q, want the admin's email", v)
		}
		if v, _ := doc.Find("#reauth-password").Attr("autocomplete"); v != "current-password" {
			t.Fatalf("re-prompt password autocomplete = %q", v)
		}

		// The Generate dialog has Name, Description and Generate.
		_, body = c.htmx(http.MethodGet, "/general/api-keys/new", nil)
		doc = parseHTML(t, body)
		if doc.Find("label[for=key-name]").Text() != "Name" || !strings.HasPrefix(doc.Find("label[for=key-description]").Text(), "Description") || !strings.Contains(doc.Find("button[type=submit]").Text(), "Generate") {
			t.Fatal("Generate dialog fields differ from the contract")
		}
		if v, _ := doc.Find("#key-name").Attr("autocomplete"); v != "off" {
			t.Fatal("Name field must not be autofilled")
		}

		// Validation errors come back in the dialog and change nothing.
		for _, bad := range []url.Values{
			{"name": {"   "}},
			{"name": {strings.Repeat("x", 101)}},
			{"name": {"ok"}, "description": {strings.Repeat("d", 501)}},
			{"name": {"evil\u202Ename"}},
			{"name": {"bad\x00byte"}},
		} {
			resp, body := c.htmx(http.MethodPost, "/general/api-keys", bad)
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, "aria-invalid=\"true\"") {
				t.Fatalf("invalid input %v: status %d body %s", bad, resp.StatusCode, body)
			}
			if strings.ContainsAny(body, "\x00\u202E") {
				t.Fatalf("the dialog echoes control or bidi characters back: %q", body)
			}
		}
		if n, _ := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID); n != 0 {
			t.Fatal("invalid input created a key")
		}

		resp, body = generate(t, c, "Shopify sync")
		// The new key is shown once in the dialog, with Copy new key (issue 12).
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Copy new key") || !strings.Contains(resp.Header.Get("HX-Trigger"), "generated") {
			t.Fatalf("generate: %d %v", resp.StatusCode, resp.Header)
		}
		var events struct {
			Toast struct{ Message string }
		}
		hdr := resp.Header.Get("HX-Trigger")
		if err := json.Unmarshal([]byte(hdr), &events); err != nil || events.Toast.Message != "API key “Shopify sync” generated." {
			t.Fatalf("toast event %q: %v", hdr, err)
		}
		for i := 0; i < len(hdr); i++ {
			if hdr[i] >= 0x80 {
				t.Fatalf("HX-Trigger carries raw non-ASCII bytes (shown as mojibake): %q", hdr)
			}
		}
		_, panel := c.htmx("GET", "/general/api-keys", nil)
		if !strings.Contains(panel, "Shopify sync") || !strings.Contains(panel, "1 of 20") || !strings.Contains(panel, "Active") {
			t.Fatal("new row not in the re-rendered panel")
		}
		// Same name again: refused in the dialog.
		_, body = generate(t, c, "shopify SYNC")
		if !strings.Contains(body, "already has this name") {
			t.Fatal("duplicate name not refused")
		}
		key := keyByName(t, ts, ts.Demo.Program.ID, "Shopify sync")
		secret := secretOf(t, ts, key)
		if strings.Contains(body, secret) {
			t.Fatal("the list shows the unmasked key")
		}
		id := fmt.Sprint(key.ID)

		// Reveal without re-authentication asks for the password.
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/reveal", nil)
		if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || strings.Contains(body, secret) {
			t.Fatal("reveal without re-authentication was not refused")
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("reveal response cacheable")
		}
		// A wrong password says so; the right one opens the window.
		if got := reauth(t, c, "not my password"); !strings.Contains(got, "Incorrect password. 4 attempts left") {
			t.Fatalf("wrong password: %s", got)
		}
		sessionBefore := cookieValue(c, ts, "keydesk_session")
		if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "reauthenticated") {
			t.Fatalf("right password: %s", got)
		}
		if cookieValue(c, ts, "keydesk_session") == sessionBefore {
			t.Fatal("session id not rotated at re-authentication")
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/reveal", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, secret) || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("reveal after re-authentication: %d", resp.StatusCode)
		}
		doc = parseHTML(t, body)
		if doc.Find("[aria-label='Hide API key']").Length() != 1 || doc.Find("[data-remask-after]").Length() != 1 {
			t.Fatal("revealed cell lacks Hide and the re-mask timer")
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/copy", nil)
		if body != secret || !strings.Contains(resp.Header.Get("HX-Trigger"), "copy-secret") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("copy did not deliver the key")
		}
		for name, values := range resp.Header {
			if strings.Contains(strings.Join(values, " "), secret) {
				t.Fatalf("the key travels in the %s response header", name)
			}
		}
		// A fresh page load is masked again.
		_, body = c.get("/general/api-keys")
		if strings.Contains(body, secret) {
			t.Fatal("fresh page load shows the key")
		}

		// Edit.
		_, body = c.htmx(http.MethodGet, "/general/api-keys/"+id+"/edit", nil)
		if v, _ := parseHTML(t, body).Find("#key-name").Attr("value"); v != "Shopify sync" {
			t.Fatalf("edit dialog not filled: %q", v)
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/edit", url.Values{"name": {"Shopify orders"}, "description": {"changed"}})
		if resp.Header.Get("HX-Retarget") != "#keys-panel" || !strings.Contains(body, "Shopify orders") {
			t.Fatal("edit failed")
		}

		// Delete is refused while active, whatever the UI shows.
		resp, _ = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/delete", nil)
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("delete active: %d", resp.StatusCode)
		}
		_, body = c.htmx(http.MethodGet, "/general/api-keys/"+id+"/inactivate", nil)
		if !strings.Contains(body, "will start failing") {
			t.Fatal("inactivate dialog does not warn")
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/inactivate", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Inactive") {
			t.Fatal("inactivate failed")
		}
		doc = parseHTML(t, body)
		if doc.Find("button:contains('Delete')").Length() != 1 || doc.Find("button:contains('Activate')").Length() != 1 {
			t.Fatal("inactive row should offer Activate and Delete")
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/activate", nil)
		if resp.StatusCode != http.StatusOK || parseHTML(t, body).Find("button:contains('Delete')").Length() != 0 {
			t.Fatal("active row must not offer Delete")
		}
		c.htmx(http.MethodPost, "/general/api-keys/"+id+"/inactivate", nil)
		_, body = c.htmx(http.MethodGet, "/general/api-keys/"+id+"/delete", nil)
		if !strings.Contains(body, "Delete “Shopify orders”?") {
			t.Fatal("delete dialog does not name the key")
		}
		resp, body = c.htmx(http.MethodPost, "/general/api-keys/"+id+"/delete", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "No API keys yet") {
			t.Fatalf("delete: %d", resp.StatusCode)
		}

		want := []string{"api_key.generated:success", "reauth.failed:failure", "reauth.succeeded:success", "api_key.revealed:success", "api_key.copied:success", "api_key.updated:success", "api_key.deleted:refused", "api_key.inactivated:success", "api_key.activated:success", "api_key.inactivated:success", "api_key.deleted:success"}
		var got []string
		for _, a := range ts.auditActions(t, ts.Demo.Program.ID) {
			if strings.HasPrefix(a, "api_key.") || strings.HasPrefix(a, "reauth.") {
				got = append(got, a)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("audit\n got %v\nwant %v", got, want)
		}
		var details []string
		ts.Store.DB.Raw("SELECT details FROM audit_events").Scan(&details)
		for _, d := range details {
			if strings.Contains(d, secret) || strings.Contains(d, modeltest.Password) {
				t.Fatal("a secret reached the audit trail")
			}
		}
		if strings.Contains(ts.Logs.String(), secret) || strings.Contains(ts.Logs.String(), modeltest.Password) {
			t.Fatal("a secret reached the logs")
		}
	})
}

func TestAPIKeyRefusals(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		generate(t, c, "mine")
		mine := keyByName(t, ts, ts.Demo.Program.ID, "mine")
		foreign, err := ts.Store.Keys.Generate(t.Context(), ts.Other.Program.ID, audit.Actor{}, keys.KeyInput{Name: "theirs"})
		if err != nil {
			t.Fatal(err)
		}
		reauth(t, c, modeltest.Password)
		fid := fmt.Sprint(foreign.ID)
		// Another program's key id is a 404 on every action.
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/general/api-keys/" + fid + "/edit"},
			{http.MethodPost, "/general/api-keys/" + fid + "/edit"},
			{http.MethodPost, "/general/api-keys/" + fid + "/reveal"},
			{http.MethodPost, "/general/api-keys/" + fid + "/copy"},
			{http.MethodGet, "/general/api-keys/" + fid + "/inactivate"},
			{http.MethodPost, "/general/api-keys/" + fid + "/inactivate"},
			{http.MethodPost, "/general/api-keys/" + fid + "/activate"},
			{http.MethodGet, "/general/api-keys/" + fid + "/delete"},
			{http.MethodPost, "/general/api-keys/" + fid + "/delete"},
			{http.MethodPost, "/general/api-keys/abc/reveal"},
		} {
			resp, body := c.htmx(r.method, r.path, url.Values{"name": {"hijack"}})
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("%s %s: %d", r.method, r.path, resp.StatusCode)
			}
			if strings.Contains(body, "theirs") {
				t.Fatal("foreign key leaked")
			}
		}
		if k, _ := ts.Store.Keys.ByID(t.Context(), ts.Other.Program.ID, foreign.ID); k == nil || !k.Active || k.Name != "theirs" {
			t.Fatal("foreign key changed")
		}
		// Missing CSRF on a fragment POST.
		resp, _ := c.do(http.MethodPost, "/general/api-keys/"+fmt.Sprint(mine.ID)+"/inactivate", url.Values{}, map[string]string{"HX-Request": "true"})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("no CSRF: %d", resp.StatusCode)
		}
		if k, _ := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, mine.ID); !k.Active {
			t.Fatal("CSRF-less request inactivated the key")
		}
	})
}

func TestReauthWindowAndLock(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withReauthWindow(0))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	generate(t, c, "k")
	id := fmt.Sprint(keyByName(t, ts, ts.Demo.Program.ID, "k").ID)
	reveal := func() bool {
		resp, _ := c.htmx(http.MethodPost, "/general/api-keys/"+id+"/reveal", nil)
		return !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required")
	}
	// A zero window lets exactly one secret through per confirmation.
	reauth(t, c, modeltest.Password)
	if !reveal() {
		t.Fatal("confirmed reveal refused")
	}
	if reveal() {
		t.Fatal("a zero window allowed a second reveal without asking")
	}
	for i := range 4 {
		if got := reauth(t, c, "wrong"); !strings.Contains(got, "Incorrect password") {
			t.Fatalf("failure %d: %s", i, got)
		}
	}
	if got := reauth(t, c, "wrong"); !strings.Contains(got, "locked") {
		t.Fatalf("fifth failure did not lock: %s", got)
	}
	// Locked: even the right password is refused.
	if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "locked") || strings.Contains(got, "reauthenticated") {
		t.Fatalf("locked re-authentication accepted: %s", got)
	}
	if reveal() {
		t.Fatal("reveal while locked")
	}
	// After the lock expires, the right password works again.
	ts.Store.SetClock(func() time.Time { return time.Now().Add(16 * time.Minute) })
	if got := reauth(t, c, modeltest.Password); !strings.Contains(got, "reauthenticated") {
		t.Fatalf("after the lock: %s", got)
	}
	actions := ts.auditActions(t, ts.Demo.Program.ID)
	for _, want := range []string{"reauth.locked:refused", "reauth.failed:refused", "reauth.failed:failure", "reauth.succeeded:success"} {
		if !slices.Contains(actions, want) {
			t.Fatalf("audit lacks %s", want)
		}
	}
}

func TestKeyLimitThroughTheRouter(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		for i := range keys.MaxAPIKeysPerProgram {
			if _, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("key %02d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		_, body := c.get("/general/api-keys")
		doc := parseHTML(t, body)
		btn := doc.Find("#keys-panel button.btn-primary")
		if _, disabled := btn.Attr("disabled"); !disabled || !strings.Contains(body, "20 of 20") || !strings.Contains(body, "the most allowed") {
			t.Fatal("limit state not shown")
		}
		// A forged request past the limit gets a clear error and changes nothing.
		_, body = generate(t, c, "one too many")
		if !strings.Contains(body, "already has 20 API keys") {
			t.Fatalf("over the limit: %s", body)
		}
		if n, _ := ts.Store.Keys.Count(t.Context(), ts.Demo.Program.ID); n != 20 {
			t.Fatalf("%d keys", n)
		}
		if !slices.Contains(ts.auditActions(t, ts.Demo.Program.ID), "api_key.generated:refused") {
			t.Fatal("limit refusal not audited")
		}
		// The default key is outside the 20 and shown in Settings.
		_, body = c.get("/general/settings")
		if !strings.Contains(body, ts.Demo.Program.PartnerID) || parseHTML(t, body).Find("[aria-label='Show API key']").Length() != 1 {
			t.Fatal("settings page lacks partner ID or default key")
		}
	})
}

func TestConcurrentGenerateRequests(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		token := c.csrf()
		done := make(chan int, 50)
		for i := range 50 {
			go func() {
				resp, err := c.http.Do(mustRequest(t, ts.URL+"/general/api-keys", url.Values{"name": {fmt.Sprintf("k%d", i)}}, token))
				if err != nil {
					done <- 0
					return
				}
				resp.Body.Close()
				done <- resp.StatusCode
			}()
		}
		for range 50 {
			if code := <-done; code != http.StatusOK {
				t.Errorf("status %d", code)
			}
		}
		var keyList, events int64
		ts.Store.DB.Raw("SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE", ts.Demo.Program.ID).Scan(&keyList)
		ts.Store.DB.Raw("SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?", ts.Demo.Program.ID, audit.ActionKeyGenerated, audit.OutcomeSuccess).Scan(&events)
		if keyList != 20 || events != 20 {
			t.Fatalf("keys %d, creation events %d", keyList, events)
		}
	})
}

// sendAtOnce releases every request at the same moment from its own
// goroutine through c and counts the answers by status (0: no answer).
func sendAtOnce(c *client, reqs []*http.Request) map[int]int {
	start := make(chan struct{})
	codes := make(chan int, len(reqs))
	var wg sync.WaitGroup
	for _, req := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := c.http.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for code := range codes {
		got[code]++
	}
	return got
}

func mustRequest(t *testing.T, u string, form url.Values, token string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", token)
	return req
}
