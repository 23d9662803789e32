package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// TestBrowserSSOSignInAndStepUp signs in with Sign in with SSO through the
// in-process identity provider, then presses Show API key: the dialog
// offers Continue with SSO (no password), the identity provider signs the
// admin in afresh, and back on the page the key is revealed without
// another press.
func TestBrowserSSOSignInAndStepUp(t *testing.T) {
	s := newSSOTest(t, modeltest.SQLite(t))
	base := localhostURL(t, s.testServer)
	_, err := s.Store.Keys.Generate(t.Context(), s.Demo.Program.ID, audit.Actor{AdminID: s.Demo.Full.ID, Email: s.Demo.Full.Email}, keys.KeyInput{Name: "Shopify sync", Description: "Order sync"})
	if err != nil {
		t.Fatal(err)
	}
	secret := secretOf(t, s.testServer, keyByName(t, s.testServer, s.Demo.Program.ID, "Shopify sync"))
	// The identity provider signs in the same person twice: at sign-in
	// and at the step-up.
	s.idp.QueueUser(s.user("full"))
	s.idp.QueueUser(s.user("full"))

	ctx := newBrowser(t, 1280, 900)
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runStep(t, ctx, step, actions...)
	}
	must("sign-in page offers SSO",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.Search("//a[normalize-space()='Sign in with SSO']")),
	)
	screenshot(t, ctx, "sso-01-login")
	must("Sign in with SSO asks the email",
		chromedp.Click(chromedp.Search("//a[normalize-space()='Sign in with SSO']")),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Email']")),
	)
	screenshot(t, ctx, "sso-02-email")
	must("identity provider signs in",
		chromedp.SendKeys(chromedp.CSS("#sso-email"), s.Demo.Full.Email),
		chromedp.Click(xpathButton("Continue")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
		chromedp.WaitVisible(chromedp.Search("//td//p[text()='Shopify sync']")),
	)
	screenshot(t, ctx, "sso-03-signed-in")

	must("reveal asks for a fresh identity-provider sign-in",
		settled(),
		chromedp.Click(chromedp.Search("//tr[.//p[text()='Shopify sync']]//button[@aria-label='Show API key']")),
		chromedp.WaitVisible(chromedp.Search("//dialog[@id='reauth-dialog']//button[normalize-space()='Continue with SSO']")),
		settled(),
	)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#reauth-password').length`)); err != nil || n != 0 {
		t.Fatalf("an SSO session's dialog asks for a password (%d, %v)", n, err)
	}
	screenshot(t, ctx, "sso-04-step-up-dialog")
	must("step-up and back: the key is revealed",
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='reauth-dialog']//button[normalize-space()='Continue with SSO']")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
		chromedp.WaitVisible(xpathButton("Hide API key")),
	)
	screenshot(t, ctx, "sso-05-revealed")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(loc); u.Path != "/general/api-keys" || strings.Contains(u.RawQuery, "resume") {
		t.Fatalf("after the step-up the page is %s", loc)
	}
	must("Settings » Single sign-on",
		chromedp.Navigate(base+"/general/settings"),
		chromedp.Click(chromedp.Search("//a[normalize-space()='Set up single sign-on']")),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Break-glass admin']")),
	)
	screenshot(t, ctx, "sso-06-settings")
	var got []string
	for _, a := range s.auditActions(t, s.Demo.Program.ID) {
		if strings.HasPrefix(a, "signin.") || strings.HasPrefix(a, "reauth.") || a == "api_key.revealed:success" {
			got = append(got, a)
		}
	}
	want := []string{"signin.succeeded:success", "reauth.succeeded:success", "api_key.revealed:success"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("audit\n got %v\nwant %v", got, want)
	}
}
