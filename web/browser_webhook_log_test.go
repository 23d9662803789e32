package web_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestBrowserWebhookLogRefreshesItself: while a delivery is pending the
// log updates itself (no reload), shows Delivered once the receiver
// answered, and then stops refreshing; the delivered row offers no Retry
// now. 1440 and 375 px, light and dark.
func TestBrowserWebhookLogRefreshesItself(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(itoa(int64(size[0]))+"-"+scheme, func(t *testing.T) {
				release := make(chan struct{})
				rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					<-release
					w.WriteHeader(http.StatusOK)
				}))
				released := false
				t.Cleanup(func() {
					if !released {
						close(release)
					}
					rcv.Close()
				})
				ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback())
				actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
				ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID); err != nil {
					t.Fatal(err)
				}
				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				runStep(t, ctx, "the log while the receiver has not answered", colorScheme(scheme),
					chromedp.Navigate(ts.URL+"/general/webhooks/"+strconv.FormatInt(ep.ID, 10)),
					chromedp.WaitVisible(chromedp.CSS(`#delivery-log-section[data-refreshing] tr[data-delivery-status=pending]`)),
				)
				screenshot(t, ctx, "webhook-log-pending-"+itoa(int64(size[0]))+"-"+scheme)
				// Mark the page: a reload would lose the mark, a swap keeps it.
				runStep(t, ctx, "mark the page", chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`))
				close(release)
				released = true
				runStep(t, ctx, "delivered without a reload, and the refresh stops",
					chromedp.WaitVisible(chromedp.CSS(`#delivery-log-section tr[data-delivery-status=delivered]`)),
					chromedp.WaitNotPresent(chromedp.CSS(`#delivery-log-section[data-refreshing]`)),
				)
				if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
					t.Fatal("the page reloaded instead of refreshing the log")
				}
				row, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#delivery-log tbody tr').innerText`))
				if strings.Contains(row, "Pending") || strings.Contains(row, "Retry now") {
					t.Fatalf("a delivered row says %q", row)
				}
				screenshot(t, ctx, "webhook-log-delivered-"+itoa(int64(size[0]))+"-"+scheme)
				if o := pageOverflow(t, ctx); o > 0 {
					t.Fatalf("the endpoint page is %d px wider than the viewport", o)
				}
			})
		}
	}
}

// TestBrowserNewKeyDialogBridgesToTheFirstCall: the shown-once dialog
// gives the identifier, the partner ID and a request with the new key
// filled in; Copy request puts that request on the clipboard, and the
// request, as copied, succeeds. 1440 and 375 px, light and dark.
func TestBrowserNewKeyDialogBridgesToTheFirstCall(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(itoa(int64(size[0]))+"-"+scheme, func(t *testing.T) {
				ts := newTestServer(t, modeltest.SQLite(t))
				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				runStep(t, ctx, "generate", colorScheme(scheme),
					chromedp.Navigate(ts.URL+"/general/api-keys"),
					chromedp.Click(xpathButton("Generate API Key")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
					chromedp.SendKeys(chromedp.CSS("#key-name"), "Checkout"),
					settled(),
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] [data-new-key-integration]")),
					settled(),
				)
				key := keyByName(t, ts, ts.Demo.Program.ID, "Checkout")
				secret := secretOf(t, ts, key)
				text := func(sel string) string {
					s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+sel+`').textContent`))
					return s
				}
				if got := text("[data-new-key-identifier]"); got != key.Identifier {
					t.Errorf("identifier %q, want %q", got, key.Identifier)
				}
				if got := text("[data-new-key-partner-id]"); got != ts.Demo.Program.PartnerID {
					t.Errorf("partner ID %q, want %q", got, ts.Demo.Program.PartnerID)
				}
				screenshot(t, ctx, "new-key-bridge-"+itoa(int64(size[0]))+"-"+scheme)
				runStep(t, ctx, "Copy request",
					chromedp.ScrollIntoView(xpathButton("Copy request")),
					chromedp.Click(xpathButton("Copy request")),
					chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[text()='Copied to the clipboard.']")),
				)
				request := readClipboard(t, ctx, ts.URL)
				if request != text("[data-new-key-request]") || !strings.Contains(request, "api-key: "+secret) {
					t.Fatalf("copied request %q, want the shown one with the new key", request)
				}
				if o := pageOverflow(t, ctx); o > 0 {
					t.Errorf("the dialog widens the page by %d px", o)
				}
				// Run the request as copied: its URL and headers.
				m := regexp.MustCompile(`curl (\S+) \\\n  -H 'partner-id: ([^']+)' \\\n  -H 'api-key: ([^']+)'`).FindStringSubmatch(request)
				if m == nil {
					t.Fatalf("the request is not the expected curl: %q", request)
				}
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, strings.Replace(m[1], "localhost", "127.0.0.1", 1), nil)
				req.Header.Set("partner-id", m[2])
				req.Header.Set("api-key", m[3])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("the copied request answers %d", resp.StatusCode)
				}
			})
		}
	}
}
