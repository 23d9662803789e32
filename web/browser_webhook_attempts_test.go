package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/routes"
)

// TestBrowserDeliveryAttemptsAndMailFailure: on the endpoint page, Details
// opens a delivery's attempts; the refused attempt's response body (a long
// unbroken line, cut at 4 KiB and marked truncated) wraps inside its own
// box, the dialog and the page stay within the viewport, axe finds nothing
// serious in the dialog, and Escape closes it back to Details. General »
// Webhooks and General » Settings say "Last mail failed" after a refused
// mail. 1440 and 375 px, light and dark.
func TestBrowserDeliveryAttemptsAndMailFailure(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			name := itoa(int64(size[0])) + "-" + scheme
			t.Run(name, func(t *testing.T) {
				var calls atomic.Int32
				unbroken := strings.Repeat("x", 300)
				refusal := "<html><body><h1>502 Bad Gateway</h1><p>" + unbroken + "</p>\n" + strings.Repeat("<p>upstream keydesk-receiver did not answer in time</p>\n", 90) + "</body></html>"
				rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						w.Header().Set("Content-Type", "text/html")
						w.WriteHeader(http.StatusBadGateway)
						_, _ = w.Write([]byte(refusal))
						return
					}
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(`{"received":true}`))
				}))
				t.Cleanup(rcv.Close)
				_, addr := startRefusingMailSink(t)
				ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback(), func(cfg *config.Options) {
					withRefusingMail(addr)(cfg)
					cfg.Events.Webhooks.RetryBase = 50 * time.Millisecond // the refused delivery is retried at once
				})
				actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
				ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
				if err != nil {
					t.Fatal(err)
				}
				d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID)
				if err != nil {
					t.Fatal(err)
				}
				waitForDelivery(t, ts, ep.ID, d.ID, outbox.StatusDelivered)
				invite(t, ts.loggedIn(t, ts.Demo.Full.Email), "invited@example.test", "limited")
				waitForMailStatus(t, ts, true)

				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				details := chromedp.CSS(`#delivery-log [data-delivery-details]`)
				runStep(t, ctx, "open the delivery's attempts", colorScheme(scheme),
					chromedp.Navigate(ts.URL+routes.WebhookEndpoint(ep.ID)),
					chromedp.WaitVisible(details),
					chromedp.ScrollIntoView(details),
					chromedp.Click(details),
					chromedp.WaitVisible(chromedp.CSS(`dialog#modal[open] [data-delivery-attempts] details[data-attempt="2"][open] [data-response-body]`)),
					settled(),
				)
				screenshot(t, ctx, "webhook-attempts-newest-"+name)
				refused := `dialog#modal details[data-attempt="1"]`
				runStep(t, ctx, "open the refused attempt",
					chromedp.ScrollIntoView(chromedp.CSS(refused+` > summary`)),
					chromedp.Click(chromedp.CSS(refused+` > summary`)),
					chromedp.WaitVisible(chromedp.CSS(refused+`[open] [data-truncated]`)),
					chromedp.ScrollIntoView(chromedp.CSS(refused+` [data-response-body]`)),
				)
				screenshot(t, ctx, "webhook-attempts-refused-"+name)
				shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('`+refused+` [data-response-body]').textContent`))
				if shown != refusal[:outbox.MaxKeptResponseBody] {
					t.Fatalf("the refused body shows %d bytes, want its first %d", len(shown), outbox.MaxKeptResponseBody)
				}
				// Long lines wrap inside their box; the dialog fits the viewport.
				wide, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('dialog#modal pre')].filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.getAttribute('aria-label'))`))
				if len(wide) > 0 {
					t.Fatalf("boxes scroll sideways: %v", wide)
				}
				right, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.querySelector('dialog#modal').getBoundingClientRect().right - window.innerWidth`))
				if right > 0 {
					t.Fatalf("the dialog runs %v px past the viewport", right)
				}
				if o := pageOverflow(t, ctx); o > 0 {
					t.Fatalf("the endpoint page is %d px wider than the viewport", o)
				}
				if scheme == "light" {
					// axe on the open dialog, light and dark (checkA11y does both).
					checkA11y(t, ctx, "webhook-attempts", size[0])
					runStep(t, ctx, "back to "+scheme, colorScheme(scheme))
				}
				runStep(t, ctx, "Escape closes the dialog back to Details",
					chromedp.KeyEvent(kb.Escape),
					chromedp.WaitNotPresent(chromedp.CSS(`dialog#modal[open]`)),
				)
				if !focusSettlesOn(ctx, `document.activeElement.hasAttribute('data-delivery-details')`) {
					t.Error("closing the dialog does not return focus to Details")
				}
				for _, page := range []string{routes.Webhooks, routes.Settings} {
					runStep(t, ctx, "the mail notice of "+page,
						chromedp.Navigate(ts.URL+page),
						chromedp.WaitVisible(chromedp.CSS(`[data-mail-notices][data-mail-failed]`)),
					)
					text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-mail-notices]').innerText`))
					if !strings.HasPrefix(text, "Last mail failed: ") || !strings.Contains(text, "relay refused") || strings.Contains(text, "Email notices are on") {
						t.Fatalf("%s says %q", page, text)
					}
					screenshot(t, ctx, "mail-failed-"+strings.ReplaceAll(strings.TrimPrefix(page, "/general/"), "/", "-")+"-"+name)
					if o := pageOverflow(t, ctx); o > 0 {
						t.Fatalf("%s is %d px wider than the viewport", page, o)
					}
				}
			})
		}
	}
}

// TestBrowserDetailsFocusSurvivesTheLogRefresh: while a refused delivery
// waits for its retry the log refreshes itself under the open Details
// dialog; closing the dialog puts focus back on that delivery's Details
// (re-rendered meanwhile), not on the page heading. 1440 and 375 px.
func TestBrowserDetailsFocusSurvivesTheLogRefresh(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(itoa(int64(width)), func(t *testing.T) {
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "maintenance", http.StatusServiceUnavailable)
			}))
			t.Cleanup(rcv.Close)
			ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback(), func(cfg *config.Options) {
				cfg.Events.Webhooks.RetryBase = time.Hour // the retry waits beyond the test
			})
			actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
			ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
			if err != nil {
				t.Fatal(err)
			}
			d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID)
			if err != nil {
				t.Fatal(err)
			}
			refusedOnce(t, ts, ep.ID)
			ctx := newBrowser(t, width, 800)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			id := "delivery-details-" + itoa(d.ID)
			runStep(t, ctx, "open Details of the refused delivery",
				chromedp.Navigate(ts.URL+routes.WebhookEndpoint(ep.ID)),
				chromedp.WaitVisible(chromedp.CSS(`#delivery-log-section[data-refreshing] #`+id)),
				// Clicked in one script: the refresh cannot swap the button
				// between finding and pressing it.
				chromedp.Evaluate[chromedp.Void](`window.logBefore = document.getElementById('delivery-log-section'); document.getElementById('`+id+`').click()`),
				chromedp.WaitVisible(chromedp.CSS(`dialog#modal[open] details[data-attempt="1"] [data-response-code]`)),
			)
			runStep(t, ctx, "the log refreshes under the dialog",
				chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('delivery-log-section') !== window.logBefore`, chromedp.WithPollingInterval(50*time.Millisecond)))
					return err
				}),
				chromedp.KeyEvent(kb.Escape),
				chromedp.WaitNotPresent(chromedp.CSS(`dialog#modal[open]`)),
			)
			focusSettlesOn(ctx, `document.activeElement.id === `+strconv.Quote(id))
			if focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`)); focused != id {
				t.Fatalf("focus after closing is on %q, want the delivery's Details", focused)
			}
		})
	}
}

// refusedOnce waits until the endpoint's delivery was refused once (the
// worker runs in the background).
func refusedOnce(t *testing.T, ts *testServer, endpointID int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := ts.Store.Outbox.Deliveries(t.Context(), ts.Demo.Program.ID, endpointID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].ResponseCode != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery was never refused: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// focusSettlesOn waits up to 3 s for the focus test (a JavaScript boolean)
// to hold and says whether it did: a dialog's close event, whose handler
// puts focus back, comes a task after the dialog closed.
func focusSettlesOn(ctx context.Context, test string) bool {
	pollCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, _ = chromedp.Run(pollCtx, chromedp.Poll[bool](test, chromedp.WithPollingInterval(20*time.Millisecond)))
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](test))
	return err == nil && ok
}
