package web_test

import (
	"net/http"
	"net/http/httptest"
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
