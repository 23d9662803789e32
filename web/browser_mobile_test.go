package web_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// consolePages seeds what makes each console page as wide as it gets (a
// key with a long name, a webhook endpoint with a delivery, admins) and
// lists the pages with an action each must keep on screen.
func consolePages(t *testing.T, ts *testServer) []struct{ path, action string } {
	t.Helper()
	k := seedKeys(t, ts, "Point of sale terminals in every store of the north region")[0]
	actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
	ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{
		URL: "https://hooks.example.com/keydesk/very/long/path/that/goes/on/and/on?with=query&and=more", Events: []string{"api_key.created"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID); err != nil {
		t.Fatal(err)
	}
	id := strconv.FormatInt(ep.ID, 10)
	return []struct{ path, action string }{
		{"/general/settings", ""},
		{"/general/api-keys", "Generate API Key"},
		{"/general/api-keys/" + strconv.FormatInt(k.ID, 10) + "/usage", ""},
		{"/general/webhooks", "Add endpoint"},
		{"/general/webhooks/" + id, "Retry now"},
		{"/general/admins", "Remove"},
		{"/general/audit-trail", ""},
		{"/general/api-reference", ""},
		{"/account", "Sign out other sessions"},
	}
}

// TestBrowserMobileNoSidewaysScroll: at 375 px, light and dark, no console
// page is wider than the viewport, each page's main action lies on screen,
// every section of the navigation and the account link can be reached, and
// no tab of the navigation wraps its label.
func TestBrowserMobileNoSidewaysScroll(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback())
	pages := consolePages(t, ts)
	ctx := newBrowser(t, 375, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	for _, scheme := range []string{"light", "dark"} {
		runStep(t, ctx, scheme, colorScheme(scheme))
		for _, p := range pages {
			runStep(t, ctx, p.path, chromedp.Navigate(ts.URL+p.path), chromedp.WaitVisible(chromedp.CSS("main h1")), settled())
			screenshot(t, ctx, "mobile-"+scheme+strings.ReplaceAll(p.path, "/", "-"))
			if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`)); err != nil || w != 375 {
				t.Fatalf("%s: the page is laid out %d px wide, not 375 (%v)", p.path, w, err)
			}
			if o := pageOverflow(t, ctx); o > 0 {
				t.Errorf("%s (%s) is %d px wider than 375 px", p.path, scheme, o)
			}
			if p.action != "" {
				onScreen, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('main button, main a, main summary')].some(e => (e.getAttribute('aria-label') || e.textContent).trim() === `+strconv.Quote(p.action)+` && (b => b.width > 0 && b.left >= 0 && b.right <= window.innerWidth)(e.getBoundingClientRect()))`))
				if err != nil || !onScreen {
					t.Errorf("%s (%s): %q is not on screen (%v)", p.path, scheme, p.action, err)
				}
			}
			// Each tab keeps its label on one line and the strip scrolls
			// rather than the page; the account link is in the navigation.
			wrapped, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('nav[aria-label=General] a')].filter(a => a.getClientRects().length > 1 || a.getBoundingClientRect().height > 44).map(a => a.textContent.trim())`))
			if err != nil || len(wrapped) > 0 {
				t.Errorf("%s (%s): navigation labels wrap: %v (%v)", p.path, scheme, wrapped, err)
			}
		}
	}
	for _, section := range []string{"Settings", "API Keys", "Webhooks", "Admins", "Audit Trail", "Your account"} {
		runStep(t, ctx, "reach "+section+" from the navigation",
			chromedp.Navigate(ts.URL+"/general/api-keys"),
			chromedp.WaitVisible(chromedp.CSS("main h1")),
			chromedp.ScrollIntoView(chromedp.Search(`//nav[@aria-label='General']//a[normalize-space()='`+section+`']`)),
			chromedp.Click(chromedp.Search(`//nav[@aria-label='General']//a[normalize-space()='`+section+`']`)),
			chromedp.WaitVisible(chromedp.Search(`//nav[@aria-label='General']//a[@aria-current='page'][normalize-space()='`+section+`']`)),
		)
	}
}

// TestBrowserAdminActionsAsDialogs: Remove and Change access open as
// dialogs over General » Admins; Cancel closes the dialog without leaving
// the page; Remove in the dialog removes. 1440 and 375 px, light and dark.
func TestBrowserAdminActionsAsDialogs(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(itoa(int64(size[0]))+"-"+scheme, func(t *testing.T) {
				ts := newTestServer(t, modeltest.SQLite(t))
				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				row := "//tr[@data-admin='" + ts.Demo.Limited.Email + "']"
				runStep(t, ctx, "Change access opens a dialog", colorScheme(scheme),
					chromedp.Navigate(ts.URL+"/general/admins"),
					chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
					chromedp.Click(chromedp.Search(row+"//a[normalize-space()='Change access']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #admin-access-form")),
					settled(),
				)
				screenshot(t, ctx, "admins-access-dialog-"+itoa(int64(size[0]))+"-"+scheme)
				runStep(t, ctx, "Cancel closes it",
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//a[normalize-space()='Cancel']")),
					chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
				)
				runStep(t, ctx, "Remove opens a dialog",
					chromedp.Click(chromedp.Search(row+"//a[normalize-space()='Remove']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #admin-remove-form")),
					settled(),
				)
				if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
					t.Fatal("the dialogs left the Admins page")
				}
				screenshot(t, ctx, "admins-remove-dialog-"+itoa(int64(size[0]))+"-"+scheme)
				runStep(t, ctx, "remove",
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Remove']")),
					chromedp.WaitVisible(chromedp.CSS("main h1")),
					chromedp.WaitNotPresent(chromedp.Search(row)),
				)
			})
		}
	}
}
