package web_test

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"keydesk/config"
	"keydesk/models/modeltest"
)

func TestSecureCookiesFollowAnHTTPSBaseURL(t *testing.T) {
	for _, tc := range []struct {
		baseURL, secure string
		want            bool
		refused         bool
	}{
		{"", "", false, false},
		{"http://localhost:8080", "", false, false},
		{"https://keys.example.com", "", true, false},
		{"HTTPS://keys.example.com/", "", true, false},
		{"https://keys.example.com", "true", true, false},
		{"http://localhost:8080", "true", true, false},
		{"https://keys.example.com", "false", false, true},
		{"", "false", false, false},
	} {
		cfg, err := parseConfig("KEYDESK_BASE_URL", tc.baseURL, "KEYDESK_SECURE_COOKIES", tc.secure)
		switch {
		case tc.refused:
			if err == nil || !strings.Contains(err.Error(), "KEYDESK_SECURE_COOKIES") {
				t.Errorf("base %q secure %q: not refused (%v)", tc.baseURL, tc.secure, err)
			}
		case err != nil:
			t.Errorf("base %q secure %q: %v", tc.baseURL, tc.secure, err)
		case cfg.SecureCookies != tc.want:
			t.Errorf("base %q secure %q: SecureCookies %v, want %v", tc.baseURL, tc.secure, cfg.SecureCookies, tc.want)
		}
	}
}

// With secure cookies the session and CSRF cookies are __Host- cookies
// (Secure, Path=/, no Domain), every response carries HSTS, and a browser
// signs in over https with them.
func TestSecureCookiesAreHostCookies(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), func(c *config.Options) {
		c.SecureCookies = true
		c.BaseURL = "https://localhost"
	})
	tlsServer := httptest.NewTLSServer(ts.App.Echo)
	t.Cleanup(tlsServer.Close)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the test server's own certificate
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	get := func(path string) (*http.Response, string) {
		resp, err := browser.Get(tlsServer.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	checkCookie := func(resp *http.Response, name string) {
		t.Helper()
		for _, ck := range resp.Cookies() {
			if ck.Name == name {
				if !ck.Secure || !ck.HttpOnly || ck.Path != "/" || ck.Domain != "" {
					t.Errorf("%s: %s", name, ck.String())
				}
				return
			}
		}
		t.Errorf("no %s cookie among %q", name, resp.Header.Values("Set-Cookie"))
	}

	resp, body := get("/login")
	checkCookie(resp, "__Host-keydesk_csrf")
	loginCSRF, _ := parseHTML(t, body).Find(`input[name="_csrf"]`).First().Attr("value")
	passkeyOptions, err := http.NewRequest(http.MethodPost, tlsServer.URL+"/login/passkey/options", nil)
	if err != nil {
		t.Fatal(err)
	}
	passkeyOptions.Header.Set("X-CSRF-Token", loginCSRF)
	optionsResp, err := browser.Do(passkeyOptions)
	if err != nil {
		t.Fatal(err)
	}
	optionsResp.Body.Close()
	if optionsResp.StatusCode != http.StatusOK {
		t.Fatalf("passkey sign-in options over https: %d", optionsResp.StatusCode)
	}
	// The ceremony cookie is scoped to /login/passkey, so __Host- (Path=/
	// only) cannot apply; __Secure- still keeps plain HTTP from setting it.
	ceremonySet := false
	for _, ck := range optionsResp.Cookies() {
		if ck.Name == "__Secure-keydesk_passkey_login" {
			ceremonySet = ck.Secure && ck.HttpOnly && ck.Path == "/login/passkey"
		}
		if ck.Name == "keydesk_passkey_login" {
			t.Errorf("unprefixed passkey ceremony cookie set: %s", ck.String())
		}
	}
	if !ceremonySet {
		t.Errorf("no secure __Secure-keydesk_passkey_login cookie among %q", optionsResp.Header.Values("Set-Cookie"))
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); hsts != "max-age=63072000; includeSubDomains" {
		t.Errorf("HSTS %q", hsts)
	}
	token, _ := parseHTML(t, body).Find(`input[name="_csrf"]`).First().Attr("value")
	form := url.Values{"email": {ts.Demo.Full.Email}, "password": {modeltest.Password}, "_csrf": {token}}
	resp, err = browser.PostForm(tlsServer.URL+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in over https: %d", resp.StatusCode)
	}
	checkCookie(resp, "__Host-keydesk_session")
	for _, ck := range resp.Cookies() {
		if ck.Name == "keydesk_session" || ck.Name == "keydesk_csrf" {
			t.Errorf("unprefixed cookie %s set", ck.Name)
		}
	}
	if resp, _ := get("/general/api-keys"); resp.StatusCode != http.StatusOK {
		t.Fatalf("signed-in page over https: %d", resp.StatusCode)
	}
}
