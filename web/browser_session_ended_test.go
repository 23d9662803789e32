package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/models/modeltest"
)

// TestBrowserSignedOutInAnotherTab: signed out in a second tab of the same
// browser (which drops the session cookie for both), Show API key in the
// first tab leads to the sign-in page saying the session ended, not to the
// expired-form error, and signing in returns to the page it came from.
func TestBrowserSignedOutInAnotherTab(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync")
	ctx := newBrowser(t, 1280, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys?q=shop"), chromedp.WaitVisible(xpathButton("Show API key")))

	other, cancel := chromedp.NewContext(ctx)
	defer cancel()
	runStep(t, other, "sign out in another tab",
		chromedp.Navigate(ts.URL+"/general/settings"),
		chromedp.Click(xpathButton("Sign out")),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Email']")),
	)
	cancel()

	runStep(t, ctx, "show API key after signing out elsewhere",
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.Search("//p[@role='status' and text()='Your session has ended. Sign in again.']")),
	)
	screenshot(t, ctx, "session-ended-sign-in")
	runStep(t, ctx, "sign in again",
		chromedp.SendKeys(chromedp.CSS("#email"), ts.Demo.Full.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), modeltest.Password),
		chromedp.Click(xpathButton("Sign in")),
		chromedp.WaitVisible(xpathButton("Show API key")),
	)
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil || loc != "/general/api-keys?q=shop" {
		t.Fatalf("after signing in the page is %q (%v), want the page Show API key was pressed on", loc, err)
	}
}
