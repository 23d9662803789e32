package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// Issue 22 item 2: KEYDESK_BASE_URL is the one public URL. The integrator
// help's example (once built from the request's Host) and the passkeys'
// relying party (once rebuilt on every request from a setter's value) both
// come from the configuration the server was built with.
func TestConfigBaseURLIsTheOnePublicURL(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withBaseURL("https://keys.example.test"))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	resp, body := c.get("/general/api-keys")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API keys page: %d", resp.StatusCode)
	}
	if want := "curl https://keys.example.test/v2/loyalty/program"; !strings.Contains(body, want) {
		t.Errorf("the integrator help does not start with KEYDESK_BASE_URL: no %q", want)
	}
	if strings.Contains(body, "curl "+ts.URL) {
		t.Errorf("the integrator help follows the request's Host %s", ts.URL)
	}

	anonymous := ts.newClient(t)
	resp, options := anonymous.do(http.MethodPost, "/login/passkey/options", url.Values{"next": {"/general/settings"}}, map[string]string{"X-CSRF-Token": anonymous.csrf()})
	var opts struct {
		PublicKey struct {
			RPID string `json:"rpId"`
		} `json:"publicKey"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(options), &opts) != nil || opts.PublicKey.RPID != "keys.example.test" {
		t.Fatalf("passkey sign-in options: %d %s, want the relying party keys.example.test", resp.StatusCode, options)
	}
}

// Without KEYDESK_BASE_URL the public URL is the listening address (here
// 127.0.0.1 and the test port), an IP address that cannot carry passkeys:
// they answer 409 saying what to set.
func TestConfigDefaultBaseURLHasNoPasskeys(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.newClient(t)
	resp, body := c.do(http.MethodPost, "/login/passkey/options", url.Values{}, map[string]string{"X-CSRF-Token": c.csrf()})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "KEYDESK_BASE_URL") {
		t.Fatalf("passkey options without a base URL: %d %s", resp.StatusCode, body)
	}
	// The integrator help then names the address the console listens on.
	signedIn := ts.loggedIn(t, ts.Demo.Full.Email)
	if _, page := signedIn.get("/general/api-keys"); !strings.Contains(page, "curl "+ts.URL+"/v2/loyalty/program") {
		t.Errorf("without a base URL the example request does not name the listening address %s", ts.URL)
	}
}
