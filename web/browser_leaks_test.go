package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// A leaked key's row and the leaked default key under Settings (Leaked,
// where it was found, Inactive with Activate) pass axe, as does the When a
// key is found leaked field, and choosing Notify only saves it.
func TestBrowserLeakedBadges(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	demo := ts.Demo.Program
	k, secret := apiKey(t, ts, demo.ID, "Shopify sync")
	_, defaultSecret := defaultKey(t, ts, demo.ID)
	if _, err := ts.Store.Keys.ReportLeaked(t.Context(), keys.LeakAlert{Actor: audit.Actor{Email: keys.LeakReporterGitHub}, Digest: []byte("alert"),
		Reports: []keys.LeakReport{{Token: secret, URL: "https://github.com/octo/repo/blob/main/.env", Source: "content"}, {Token: defaultSecret, URL: "https://gist.github.com/octo/1"}}}); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, 1440, 900)
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runStep(t, ctx, step, actions...)
	}
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	must("API Keys", chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(chromedp.Search("//tr[.//p[text()='"+k.Name+"']]//*[@data-key-leaked]//a[@href='https://github.com/octo/repo/blob/main/.env']")))
	checkA11y(t, ctx, "api-keys-leaked", 1440)
	screenshot(t, ctx, "leaked-api-keys")
	must("Settings", chromedp.Navigate(ts.URL+"/general/settings"),
		chromedp.WaitVisible(chromedp.Search("//section[@id='default-key']//button[normalize-space()='Activate']")),
		chromedp.WaitVisible(chromedp.Search("//section[@id='default-key']//a[@href='https://gist.github.com/octo/1']")))
	checkA11y(t, ctx, "settings-leaked", 1440)
	screenshot(t, ctx, "leaked-settings")
	must("Notify only", chromedp.SetValue(chromedp.CSS("#leak-response-select"), "notify"),
		chromedp.Click(chromedp.Search("//section[@id='leak-response']//button[normalize-space()='Save']")),
		chromedp.WaitVisible(chromedp.Search("//*[contains(., 'When a key is found leaked: Notify only. Saved.')]")))
	if r, err := ts.Store.Keys.LeakResponse(t.Context(), demo.ID); err != nil || r != keys.LeakNotifyOnly {
		t.Fatalf("saved %q, %v", r, err)
	}
}
