package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/config"
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

// Without KEYDESK_BASE_URL the public URL is the listening address, a
// loopback one read as localhost (here the test port): passkeys work on
// the default setup, and the example request names that address.
func TestConfigDefaultBaseURLCarriesPasskeys(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.newClient(t)
	resp, body := c.do(http.MethodPost, "/login/passkey/options", url.Values{}, map[string]string{"X-CSRF-Token": c.csrf()})
	var opts struct {
		PublicKey struct {
			RPID string `json:"rpId"`
		} `json:"publicKey"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &opts) != nil || opts.PublicKey.RPID != "localhost" {
		t.Fatalf("passkey options without a base URL: %d %s, want the relying party localhost", resp.StatusCode, body)
	}
	local := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	signedIn := ts.loggedIn(t, ts.Demo.Full.Email)
	if _, page := signedIn.get("/general/api-keys"); !strings.Contains(page, "curl "+local+"/v2/loyalty/program") {
		t.Errorf("without a base URL the example request does not name the listening address %s", local)
	}
	if _, page := signedIn.get("/account"); strings.Contains(page, "data-passkeys-off") {
		t.Error("/account says passkeys are off on the default setup")
	}
}

// A server reached on an IP address that is not loopback cannot carry
// passkeys: the answer and the account page say why in an admin's words,
// not the library's, and Add passkey is off.
func TestConfigIPAddressSaysWhyPasskeysAreOff(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), func(c *config.Options) { c.Addr = "192.0.2.10:8080" })
	c := ts.newClient(t)
	resp, body := c.do(http.MethodPost, "/login/passkey/options", url.Values{}, map[string]string{"X-CSRF-Token": c.csrf()})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "browsers allow passkeys only on a host name") || strings.Contains(body, "RPID") {
		t.Fatalf("passkey options on an IP address: %d %s", resp.StatusCode, body)
	}
	_, page := ts.loggedIn(t, ts.Demo.Full.Email).get("/account")
	doc := parseHTML(t, page)
	if !strings.Contains(doc.Find("[data-passkeys-off]").Text(), "KEYDESK_BASE_URL") {
		t.Errorf("/account does not say why passkeys are off")
	}
	if _, disabled := doc.Find(`button[data-passkey=create]`).Attr("disabled"); !disabled {
		t.Error("Add passkey is offered although passkeys cannot work")
	}
}
