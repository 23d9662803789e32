package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"

	"keydesk/config"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// idpUser is who the in-process identity provider signs in: its email, whether that email is
// verified, and the id_token's claims as the test bends them (audience,
// expiry, nonce, auth_time).
type idpUser struct {
	email    string
	verified bool
	authTime time.Time
	bend     func(claims jwt.MapClaims)
}

func (u idpUser) ID() string { return "sub-" + u.email }

func (u idpUser) Userinfo([]string) ([]byte, error) {
	return json.Marshal(map[string]any{"sub": u.ID(), "email": u.email, "email_verified": u.verified})
}

func (u idpUser) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	r := base.RegisteredClaims
	claims := jwt.MapClaims{
		"iss": r.Issuer, "sub": r.Subject, "aud": []string(r.Audience), "exp": r.ExpiresAt.Unix(), "iat": r.IssuedAt.Unix(),
		"nbf": r.NotBefore.Unix(), "jti": r.ID, "nonce": base.Nonce, "email": u.email, "email_verified": u.verified,
	}
	at := u.authTime
	if at.IsZero() {
		at = time.Now()
	}
	claims["auth_time"] = at.Unix()
	if u.bend != nil {
		u.bend(claims)
	}
	return claims, nil
}

// withPrivateTargets sets KEYDESK_WEBHOOK_ALLOW_PRIVATE=true: the test's
// identity provider listens on loopback.
func withPrivateTargets() serverOption {
	return func(c *config.Options) { c.Events.Webhooks.AllowPrivate = true }
}

// ssoTest is a server whose Demo program signs in with an in-process
// OIDC provider.
type ssoTest struct {
	*testServer
	idp    *mockoidc.MockOIDC
	domain string
}

func newSSOTest(t *testing.T, db modeltest.Database, opts ...serverOption) *ssoTest {
	t.Helper()
	ts := newTestServer(t, db, append([]serverOption{withPrivateTargets(), withListenerBaseURL("localhost")}, opts...)...)
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	domain := ts.Demo.Program.PartnerID + ".test"
	err = ts.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, ts.Demo.Program.ID, accounts.SSOInput{
		IssuerURL: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, AllowedDomains: domain,
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	return &ssoTest{testServer: ts, idp: idp, domain: domain}
}

// noRedirects is a client for the identity provider's pages that stops at
// every redirect.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize sends the browser's visit to the identity provider's
// authorization URL (bent by bendURL, when given) with user signed in
// there, and returns the callback's path and query on keydesk, bent by
// bendCallback.
func (s *ssoTest) authorize(t *testing.T, authURL string, user idpUser, bendURL, bendCallback func(url.Values)) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(authURL, s.idp.AuthorizationEndpoint()) {
		t.Fatalf("sent to %s, not the identity provider", authURL)
	}
	if bendURL != nil {
		q := u.Query()
		bendURL(q)
		u.RawQuery = q.Encode()
	}
	s.idp.QueueUser(user)
	resp, err := noRedirects.Get(u.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cb, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || cb.Path != "/sso/callback" {
		t.Fatalf("identity provider answered %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	q := cb.Query()
	if bendCallback != nil {
		bendCallback(q)
	}
	return cb.Path + "?" + q.Encode()
}

// startSignIn presses Sign in with SSO with email and returns where the
// browser is sent.
func startSignIn(t *testing.T, c *client, email string) string {
	t.Helper()
	resp, body := c.htmx(http.MethodPost, "/login/sso", url.Values{"email": {email}})
	to := resp.Header.Get("HX-Redirect")
	if resp.StatusCode != http.StatusOK || to == "" {
		t.Fatalf("Sign in with SSO: %d, no redirect\n%s", resp.StatusCode, body)
	}
	return to
}

// ssoSignIn signs c in through the identity provider as user, typing
// typed on keydesk's page, and returns the callback's answer.
func (s *ssoTest) ssoSignIn(t *testing.T, c *client, typed string, user idpUser, bendURL, bendCallback func(url.Values)) (*http.Response, string) {
	t.Helper()
	return c.get(s.authorize(t, startSignIn(t, c, typed), user, bendURL, bendCallback))
}

func (s *ssoTest) user(local string) idpUser {
	return idpUser{email: local + "@" + s.domain, verified: true}
}

// signedInAs reports who the client's session belongs to ("" for nobody).
func signedInAs(t *testing.T, c *client) string {
	t.Helper()
	resp, body := c.get("/account")
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	doc := parseHTML(t, body)
	v, _ := doc.Find(`input[name="username"]`).First().Attr("value")
	return v
}

func hasAction(actions []string, want string) bool { return slices.Contains(actions, want) }

func TestSSOSignInAndStepUp(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := newSSOTest(t, db)
		c := s.newClient(t)
		// The typed email only finds the program: the identity provider's
		// verified email decides who signs in.
		resp, body := s.ssoSignIn(t, c, "whoever@"+s.domain, s.user("full"), nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/general/api-keys" {
			t.Fatalf("good flow: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		if got := signedInAs(t, c); got != s.Demo.Full.Email {
			t.Fatalf("signed in as %q, want %q", got, s.Demo.Full.Email)
		}
		if !hasAction(s.auditActions(t, s.Demo.Program.ID), "signin.succeeded:success") {
			t.Fatal("SSO sign-in not audited")
		}
		// The callback is answered once.
		if resp, _ := c.get("/sso/callback?state=x&code=y"); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a second callback: %d", resp.StatusCode)
		}

		// Single sign-on opens no re-authentication window: a reveal asks,
		// and the dialog offers the identity provider, never a password.
		generate(t, c, "Shopify sync")
		key := keyByName(t, s.testServer, s.Demo.Program.ID, "Shopify sync")
		secret := secretOf(t, s.testServer, key)
		revealPath := fmt.Sprintf("/general/api-keys/%d/reveal", key.ID)
		resp, body = c.htmx(http.MethodPost, revealPath, nil)
		if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || strings.Contains(body, secret) {
			t.Fatal("SSO sign-in skipped the step-up before a reveal")
		}
		_, page := c.get("/general/api-keys")
		doc := parseHTML(t, page)
		if doc.Find("#reauth-dialog #reauth-password").Length() != 0 || doc.Find("#reauth-sso-form").Length() != 1 {
			t.Fatal("the dialog of an SSO session without second factor should offer Continue with SSO, not a password")
		}
		if resp, _ := c.htmx(http.MethodPost, "/general/reauth", url.Values{"password": {modeltest.Password}}); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("password step-up in an SSO session: %d", resp.StatusCode)
		}

		// The step-up: a fresh login at the identity provider, then back
		// to the page with what to resume.
		resp, body = c.htmx(http.MethodPost, "/general/reauth/sso", url.Values{"resume": {revealPath}, "next": {"/general/api-keys"}})
		authURL := resp.Header.Get("HX-Redirect")
		if resp.StatusCode != http.StatusOK || authURL == "" {
			t.Fatalf("step-up start: %d\n%s", resp.StatusCode, body)
		}
		u, _ := url.Parse(authURL)
		if q := u.Query(); q.Get("prompt") != "login" || q.Get("max_age") != "0" || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
			t.Fatalf("step-up authorization request lacks prompt=login, max_age=0, PKCE or nonce: %s", u.RawQuery)
		}
		resp, _ = c.get(s.authorize(t, authURL, s.user("full"), nil, nil))
		want := "/general/api-keys?resume=" + url.QueryEscape(revealPath)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("step-up callback: %d %q, want %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
		resp, body = c.htmx(http.MethodPost, revealPath, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, secret) {
			t.Fatalf("reveal after the step-up: %d", resp.StatusCode)
		}
		actions := s.auditActions(t, s.Demo.Program.ID)
		if !hasAction(actions, "reauth.succeeded:success") || !hasAction(actions, "api_key.revealed:success") {
			t.Fatalf("step-up and reveal not audited: %v", actions)
		}
	})
}

func TestSSOStepUpRefusesAnOldAuthTime(t *testing.T) {
	s := newSSOTest(t, modeltest.SQLite(t))
	c := s.newClient(t)
	if resp, _ := s.ssoSignIn(t, c, "full@"+s.domain, s.user("full"), nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	generate(t, c, "Shopify sync")
	key := keyByName(t, s.testServer, s.Demo.Program.ID, "Shopify sync")
	revealPath := fmt.Sprintf("/general/api-keys/%d/reveal", key.ID)
	stepUp := func(user idpUser) *http.Response {
		resp, _ := c.htmx(http.MethodPost, "/general/reauth/sso", url.Values{"resume": {revealPath}, "next": {"/general/api-keys"}})
		resp, _ = c.get(s.authorize(t, resp.Header.Get("HX-Redirect"), user, nil, nil))
		return resp
	}
	// The identity provider ignored prompt=login: its sign-in is an hour
	// old.
	old := s.user("full")
	old.authTime = time.Now().Add(-time.Hour)
	if resp := stepUp(old); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("old auth_time: %d", resp.StatusCode)
	}
	if resp, _ := c.htmx(http.MethodPost, revealPath, nil); !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
		t.Fatal("an old auth_time opened the re-authentication window")
	}
	// Another account at the identity provider is no step-up of this one.
	if resp := stepUp(s.user("limited")); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("step-up as another account: %d", resp.StatusCode)
	}
	noAuthTime := s.user("full")
	noAuthTime.bend = func(c jwt.MapClaims) { delete(c, "auth_time") }
	if resp := stepUp(noAuthTime); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("no auth_time: %d", resp.StatusCode)
	}
	if resp, _ := c.htmx(http.MethodPost, revealPath, nil); !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
		t.Fatal("a refused step-up opened the re-authentication window")
	}
	var failed int
	for _, a := range s.auditActions(t, s.Demo.Program.ID) {
		if a == "reauth.failed:failure" {
			failed++
		}
	}
	if failed != 3 {
		t.Fatalf("refused step-ups audited %d times, want 3", failed)
	}
}

func TestSSOSignInRefusals(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := newSSOTest(t, db)
		full := s.user("full")
		cases := []struct {
			name         string
			user         idpUser
			bendURL      func(url.Values)
			bendCallback func(url.Values)
		}{
			{name: "wrong state", user: full, bendCallback: func(q url.Values) { q.Set("state", "forged") }},
			{name: "wrong nonce", user: full, bendURL: func(q url.Values) { q.Set("nonce", "forged") }},
			{name: "wrong audience", user: idpUser{email: full.email, verified: true, bend: func(c jwt.MapClaims) { c["aud"] = []string{"another-client"} }}},
			{name: "expired token", user: idpUser{email: full.email, verified: true, bend: func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }}},
			{name: "unverified email", user: idpUser{email: full.email, verified: false}},
			{name: "unknown email", user: s.user("stranger")},
			{name: "another domain", user: idpUser{email: s.Other.Full.Email, verified: true}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := len(s.auditActions(t, s.Demo.Program.ID))
				c := s.newClient(t)
				resp, body := s.ssoSignIn(t, c, full.email, tc.user, tc.bendURL, tc.bendCallback)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Sign in with SSO") {
					t.Fatalf("%s: %d %q", tc.name, resp.StatusCode, resp.Header.Get("Location"))
				}
				if who := signedInAs(t, c); who != "" {
					t.Fatalf("%s signed in %s", tc.name, who)
				}
				after := s.auditActions(t, s.Demo.Program.ID)[before:]
				if !slices.Equal(after, []string{"signin.sso_failed:failure"}) {
					t.Fatalf("%s audited %v", tc.name, after)
				}
			})
		}
	})
}

func TestSSOAcceptsAnInvitation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := newSSOTest(t, db)
		email := "new.person@" + s.domain
		if _, _, err := s.Store.Accounts.Invite(t.Context(), audit.Actor{AdminID: s.Demo.Full.ID}, s.Demo.Program.ID, email, accounts.AccessLimited, []string{accounts.ModuleAuditTrail}); err != nil {
			t.Fatal(err)
		}
		c := s.newClient(t)
		resp, body := s.ssoSignIn(t, c, email, idpUser{email: email, verified: true}, nil, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/general/audit-trail" {
			t.Fatalf("invited SSO sign-in: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		pending, err := s.Store.Accounts.PendingInvitations(t.Context(), s.Demo.Program.ID)
		if err != nil || len(pending) != 0 {
			t.Fatalf("invitation still pending: %v %v", pending, err)
		}
		if !hasAction(s.auditActions(t, s.Demo.Program.ID), "admin.invitation_accepted:success") {
			t.Fatal("acceptance not audited")
		}
		// The account has no password anyone knows.
		if resp, _ := s.newClient(t).post("/login", url.Values{"email": {email}, "password": {""}}); resp.StatusCode == http.StatusSeeOther {
			t.Fatal("an SSO-created account signed in with an empty password")
		}
	})
}

func TestRequireSSORefusesPasswordsExceptBreakGlass(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := newSSOTest(t, db)
		limited := s.loggedIn(t, s.Demo.Limited.Email) // a password session open before the switch
		err := s.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, s.Demo.Program.ID, accounts.SSOInput{
			IssuerURL: s.idp.Issuer(), ClientID: s.idp.ClientID, AllowedDomains: s.domain, RequireSSO: true, BreakGlassAdminID: s.Demo.Full.ID,
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := s.newClient(t).post("/login", url.Values{"email": {s.Demo.Limited.Email}, "password": {modeltest.Password}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "requires single sign-on") {
			t.Fatalf("password sign-in under Require single sign-on: %d", resp.StatusCode)
		}
		if who := signedInAs(t, limited); who != "" {
			t.Fatalf("a password session kept acting on a program that requires SSO: %s", who)
		}
		// The break-glass admin still signs in with a password.
		s.loggedIn(t, s.Demo.Full.Email)
		// And SSO lets the limited admin in.
		c := s.newClient(t)
		if resp, _ := s.ssoSignIn(t, c, s.Demo.Limited.Email, s.user("limited"), nil, nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("SSO sign-in under Require single sign-on: %d", resp.StatusCode)
		}
		if who := signedInAs(t, c); who != s.Demo.Limited.Email {
			t.Fatalf("SSO signed in %q", who)
		}
		if !hasAction(s.auditActions(t, s.Demo.Program.ID), "signin.failed:refused") {
			t.Fatal("refused password sign-in not audited")
		}
	})
}

func TestSSOSettingsForm(t *testing.T) {
	s := newSSOTest(t, modeltest.SQLite(t))
	c := s.loggedIn(t, s.Demo.Full.Email)
	form := url.Values{"issuer_url": {s.idp.Issuer()}, "client_id": {"console-client"}, "client_secret": {"a-new-client-secret"},
		"allowed_domains": {s.domain + "\nexample.org"}, "require_sso": {"on"}, "break_glass_admin": {fmt.Sprint(s.Demo.Full.ID)}}
	// Saving is gated like a reveal.
	resp, _ := c.htmx(http.MethodPost, "/general/settings/single-sign-on", form)
	if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") {
		t.Fatal("saving single sign-on without a confirmation was not gated")
	}
	reauth(t, c, modeltest.Password)
	resp, body := c.htmx(http.MethodPost, "/general/settings/single-sign-on", form)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Single sign-on settings saved.") {
		t.Fatalf("save: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, "a-new-client-secret") {
		t.Fatal("the form sent the client secret back")
	}
	var stored string
	if err := s.Store.DB.Raw(`SELECT client_secret FROM single_sign_on WHERE program_id = ?`, s.Demo.Program.ID).Scan(&stored).Error; err != nil {
		t.Fatal(err)
	}
	if stored == "" || strings.Contains(stored, "a-new-client-secret") {
		t.Fatal("client secret not sealed at rest")
	}
	cfg, cerr := s.Store.Accounts.SSOConfig(t.Context(), s.Demo.Program.ID)
	if cerr != nil || cfg.ClientSecret != "a-new-client-secret" || !cfg.RequireSSO || cfg.BreakGlassAdminID != s.Demo.Full.ID || len(cfg.AllowedDomains) != 2 {
		t.Fatalf("stored set-up: %+v %v", cfg, cerr)
	}
	// An admin signed in with a password cannot lock themselves out.
	form.Set("break_glass_admin", fmt.Sprint(s.Demo.Limited.ID))
	_, body = c.htmx(http.MethodPost, "/general/settings/single-sign-on", form)
	if !strings.Contains(body, "does not lock you out") {
		t.Fatal("a password session required SSO without being the break-glass admin")
	}
	// Require single sign-on needs a full-access break-glass admin.
	err := s.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, s.Demo.Program.ID, accounts.SSOInput{
		IssuerURL: s.idp.Issuer(), ClientID: "x", AllowedDomains: s.domain, RequireSSO: true, BreakGlassAdminID: s.Demo.Limited.ID}, true)
	if err == nil || !strings.Contains(err.Error(), "Choose a full-access admin") {
		t.Fatalf("a limited break-glass admin: %v", err)
	}
	// Another program cannot claim the same domain.
	err = s.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, s.Other.Program.ID, accounts.SSOInput{
		IssuerURL: s.idp.Issuer(), ClientID: "x", ClientSecret: "y", AllowedDomains: "example.org"}, true)
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("a claimed domain: %v", err)
	}
	page, _ := c.get("/general/settings/single-sign-on")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("page: %d", page.StatusCode)
	}
	if !hasAction(s.auditActions(t, s.Demo.Program.ID), "program.sso_changed:success") {
		t.Fatal("settings change not audited")
	}
}

func TestSSOIssuerSSRFGuard(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	for _, issuer := range []string{"http://127.0.0.1:9999", "https://127.0.0.1", "https://10.1.2.3/realms/x", "https://[::1]/", "https://169.254.169.254"} {
		err := ts.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, ts.Demo.Program.ID, accounts.SSOInput{
			IssuerURL: issuer, ClientID: "x", ClientSecret: "y", AllowedDomains: "example.com"}, false)
		if err == nil {
			t.Fatalf("issuer %s accepted without KEYDESK_WEBHOOK_ALLOW_PRIVATE", issuer)
		}
	}
}

// TestSSOStepUpWithAuthenticatorCode: an admin whom single sign-on signed
// in and who has an authenticator app confirms with its code alone; the
// identity-provider step-up and the password are not offered.
func TestSSOStepUpWithAuthenticatorCode(t *testing.T) {
	s := newSSOTest(t, modeltest.SQLite(t))
	now := time.Now()
	s.Store.SetClock(func() time.Time { return now })
	password := s.loggedIn(t, s.Demo.Full.Email) // before the app, so no code step
	otpKey, err := accounts.NewTOTPKey(s.Demo.Full.Email)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(otpKey.Secret(), now)
	if _, err := s.Store.Accounts.EnableTOTP(t.Context(), s.Demo.Program.ID, audit.Actor{AdminID: s.Demo.Full.ID, Email: s.Demo.Full.Email}, otpKey.Secret(), code); err != nil {
		t.Fatal(err)
	}
	c := s.newClient(t)
	if resp, _ := s.ssoSignIn(t, c, s.Demo.Full.Email, s.user("full"), nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	generate(t, c, "Shopify sync")
	key := keyByName(t, s.testServer, s.Demo.Program.ID, "Shopify sync")
	revealPath := fmt.Sprintf("/general/api-keys/%d/reveal", key.ID)
	_, page := c.get("/general/api-keys")
	doc := parseHTML(t, page)
	if doc.Find("#reauth-dialog #reauth-code").Length() != 1 || doc.Find("#reauth-dialog #reauth-password").Length() != 0 || doc.Find("#reauth-sso-form").Length() != 0 {
		t.Fatal("the dialog should ask the authenticator code alone")
	}
	if resp, _ := c.htmx(http.MethodPost, "/general/reauth/sso", nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("identity-provider step-up of an admin with an authenticator app: %d", resp.StatusCode)
	}
	if _, body := c.htmx(http.MethodPost, "/general/reauth/code", url.Values{"code": {"000000"}}); !strings.Contains(body, "wrong") {
		t.Fatal("a wrong code was not refused")
	}
	now = now.Add(30 * time.Second)
	code, _ = totp.GenerateCode(otpKey.Secret(), now)
	// A password session cannot use the code alone.
	if resp, _ := password.htmx(http.MethodPost, "/general/reauth/code", url.Values{"code": {code}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("code-only step-up in a password session: %d", resp.StatusCode)
	}
	resp, _ := c.htmx(http.MethodPost, "/general/reauth/code", url.Values{"code": {code}})
	if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauthenticated") {
		t.Fatal("a right code did not confirm")
	}
	if resp, body := c.htmx(http.MethodPost, revealPath, nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, secretOf(t, s.testServer, key)) {
		t.Fatalf("reveal after the code: %d", resp.StatusCode)
	}
}

// TestSSOFetchesAreSSRFGuarded: an issuer on loopback saved before the
// server refused private targets (or through a name that resolves there)
// is never fetched: discovery fails at the dial, the sign-in says so and
// is audited.
func TestSSOFetchesAreSSRFGuarded(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withListenerBaseURL("localhost"))
	idp, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown() })
	domain := ts.Demo.Program.PartnerID + ".test"
	if err := ts.Store.Accounts.SaveSSOConfig(t.Context(), nil, audit.Actor{}, ts.Demo.Program.ID, accounts.SSOInput{
		IssuerURL: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret, AllowedDomains: domain}, true); err != nil {
		t.Fatal(err)
	}
	c := ts.newClient(t)
	resp, body := c.htmx(http.MethodPost, "/login/sso", url.Values{"email": {ts.Demo.Full.Email}})
	if resp.Header.Get("HX-Redirect") != "" || !strings.Contains(body, "could not be reached") {
		t.Fatalf("a loopback issuer was fetched: %d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
	}
	if !hasAction(ts.auditActions(t, ts.Demo.Program.ID), "signin.sso_failed:failure") {
		t.Fatal("the refused discovery was not audited")
	}
}

// TestSSOWithoutScript: a plain form post (no htmx) gets a page with the
// link to the identity provider, since the CSP's form-action 'self' lets
// no form redirect to another origin; following it signs in.
func TestSSOWithoutScript(t *testing.T) {
	s := newSSOTest(t, modeltest.SQLite(t))
	c := s.newClient(t)
	resp, body := c.post("/login/sso", url.Values{"email": {s.Demo.Full.Email}})
	link, ok := parseHTML(t, body).Find("a[data-follow-now]").Attr("href")
	if resp.StatusCode != http.StatusOK || !ok || resp.Header.Get("Location") != "" {
		t.Fatalf("plain Sign in with SSO: %d, link %q", resp.StatusCode, link)
	}
	if resp, _ := c.get(s.authorize(t, link, s.user("full"), nil, nil)); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	if who := signedInAs(t, c); who != s.Demo.Full.Email {
		t.Fatalf("signed in as %q", who)
	}
}
