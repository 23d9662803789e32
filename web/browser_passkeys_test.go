package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// localhostURL is the test server's address under the name localhost:
// browsers refuse WebAuthn on a bare IP address, and httptest listens on
// 127.0.0.1. The relying party takes its ID and origin from it (the server
// is built withListenerBaseURL("localhost")).
func localhostURL(t *testing.T, ts *testServer) string {
	t.Helper()
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + u.Port()
}

// addVirtualAuthenticator gives the page a platform authenticator that
// holds discoverable credentials and verifies its user.
func addVirtualAuthenticator(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol:                    webauthn.AuthenticatorProtocolCtap2,
		Ctap2version:                webauthn.Ctap2versionCtap21,
		Transport:                   webauthn.AuthenticatorTransportInternal,
		HasResidentKey:              true,
		HasUserVerification:         true,
		IsUserVerified:              true,
		AutomaticPresenceSimulation: true,
	}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}

func signOut(t *testing.T, ctx context.Context) {
	t.Helper()
	runStep(t, ctx, "sign out",
		chromedp.Click(xpathButton("Sign out")),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Email']")),
	)
}

// TestBrowserPasskeys adds a passkey on /account with Chrome's virtual
// authenticator, reveals a key with Use passkey, signs in with the
// passkey as the second factor after the password, and with the passkey
// alone (any passkey the admin added does that).
func TestBrowserPasskeys(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withListenerBaseURL("localhost"))
	base := localhostURL(t, ts)
	ctx := newBrowser(t, 1280, 900)
	// A first navigation attaches the page target the authenticator
	// belongs to.
	runStep(t, ctx, "open", chromedp.Navigate(base+"/login"))
	addVirtualAuthenticator(t, ctx)
	browserLogin(t, ctx, base, ts.Demo.Full.Email)

	t.Cleanup(func() {
		if t.Failed() {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('[role=alert]')].map(e => e.id + ': ' + e.textContent).join(' | ') + ' @ ' + location.href`))
			t.Logf("alerts: %s\nserver log:\n%s", state, ts.Logs.String())
		}
	})
	runStep(t, ctx, "add passkey",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.Search("//h2[text()='Passkeys']")),
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Work laptop"),
		chromedp.SendKeys(chromedp.CSS("#passkey-password"), modeltest.Password),
		chromedp.Click(xpathButton("Add passkey")),
		chromedp.WaitVisible(chromedp.Search("//p[@role='status' and text()='Passkey added.']")),
		chromedp.WaitVisible(chromedp.Search("//p[@data-passkey-name and text()='Work laptop']")),
	)
	screenshot(t, ctx, "passkeys-01-account")
	list, err := ts.Store.Accounts.Passkeys(t.Context(), ts.Demo.Full.ID)
	if err != nil || len(list) != 1 || list[0].Name != "Work laptop" {
		t.Fatalf("passkeys after adding = %+v, %v; want one named Work laptop", list, err)
	}

	k, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Passkey reveal"})
	if err != nil {
		t.Fatal(err)
	}
	secret := secretOf(t, ts, keyByName(t, ts, ts.Demo.Program.ID, k.Name))
	runStep(t, ctx, "reveal asks for confirmation",
		chromedp.Navigate(base+"/general/api-keys"),
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.WaitVisible(xpathButton("Use passkey")),
		settled(),
	)
	screenshot(t, ctx, "passkeys-02-reauth-dialog")
	runStep(t, ctx, "Use passkey reveals the key",
		chromedp.Click(xpathButton("Use passkey")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#reauth-dialog[open]")),
	)
	events, err := ts.Store.Audit.List(t.Context(), ts.Demo.Program.ID, audit.Filter{Action: audit.ActionKeyRevealed}, audit.PageRequest{})
	if err != nil || len(events.Events) != 1 {
		t.Fatalf("revealed events = %+v, %v; want one", events, err)
	}

	signOut(t, ctx)
	runStep(t, ctx, "password, then the passkey as the second factor",
		chromedp.SendKeys(chromedp.CSS("#email"), ts.Demo.Full.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), modeltest.Password),
		chromedp.Click(xpathButton("Sign in")),
		chromedp.WaitVisible(chromedp.Search("//h1[text()='Two-factor authentication']")),
		chromedp.Click(xpathButton("Use passkey")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
	)
	signOut(t, ctx)
	runStep(t, ctx, "sign in with the passkey alone, no switch needed",
		chromedp.Click(xpathButton("Sign in with a passkey")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
	)
	title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('header a[title="Your account"]').firstChild.textContent`))
	if err != nil || strings.TrimSpace(title) != ts.Demo.Full.Email {
		t.Fatalf("signed in as %q (%v), want %s", title, err, ts.Demo.Full.Email)
	}
}

// TestBrowserInvitationAccepted opens an invitation link in a fresh
// browser (no cookie of the inviter), sets a password and lands signed in.
func TestBrowserInvitationAccepted(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	_, token, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, ts.Demo.Program.ID, "invitee@example.test", "full", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, 1280, 900)
	runStep(t, ctx, "open the link and set a password",
		chromedp.Navigate(ts.URL+"/invite/"+token),
		chromedp.WaitVisible(chromedp.Search("//h1[text()='Join Demo Store']")),
		chromedp.SendKeys(chromedp.CSS("#password"), "a long new password"),
		chromedp.Click(xpathButton("Set password")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
	)
	who, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('header a[title="Your account"]').firstChild.textContent`))
	if err != nil || strings.TrimSpace(who) != "invitee@example.test" {
		t.Fatalf("signed in as %q (%v), want invitee@example.test", who, err)
	}
	runStep(t, ctx, "the link works once",
		chromedp.Navigate(ts.URL+"/invite/"+token),
		chromedp.WaitVisible(chromedp.Search("//h1[text()='Invitation not valid']")),
	)
}
