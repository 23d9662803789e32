package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/routes"
)

// TestBrowserAPIKeyUsage opens the usage view of a key that made a known
// mix of calls, at 1440 and 375 px, light and dark: nothing overflows
// sideways, the y axis is legible, every series is drawn, axe finds
// nothing serious, and a bar reached with the keyboard shows its numbers
// (and the arrow keys move to the next bar).
func TestBrowserAPIKeyUsage(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.ReadPerMinute = 8 }))
	// The mix's first two hours fall on one UTC day: 25 calls, its bar.
	k := sendUsageMix(t, ts, time.Now().UTC().Truncate(24*time.Hour).Add(2*time.Hour))
	for _, width := range []int{1440, 375} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			ctx := newBrowser(t, width, 900)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			runStep(t, ctx, "open the usage view",
				chromedp.Navigate(ts.URL+routes.APIKeyUsage(k.ID)+"?range=30d"),
				chromedp.WaitVisible(chromedp.Search("//dt[text()='Successful requests']")),
			)
			for _, scheme := range []string{"light", "dark"} {
				runStep(t, ctx, scheme, colorScheme(scheme), settled())
				overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
				if err != nil || overflow {
					t.Errorf("%s: the page scrolls sideways at %d px (%v)", scheme, width, err)
				}
				// The y axis: its top label is a round number, legible (12 px
				// text, whatever the plot's width).
				axis, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector('[data-usage-axis=max]'); const r = e.getBoundingClientRect(); return e.textContent + ' ' + getComputedStyle(e).fontSize + ' ' + (r.width > 0) })()`))
				if err != nil || axis != "40 12px true" {
					t.Errorf("%s: y axis top %q (%v), want \"40 12px true\" (the tallest day's 25 calls rounded up)", scheme, axis, err)
				}
				// Each series with calls is drawn with its own fill.
				fills, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...new Set([...document.querySelectorAll('[data-usage-bar] rect:not(.usage-slot)')].filter(r => r.getBoundingClientRect().height > 0).map(r => getComputedStyle(r).fill))].length + ''`))
				if err != nil || fills != "6" {
					t.Errorf("%s: %s distinct series fills drawn (%v), want 6", scheme, fills, err)
				}
				screenshot(t, ctx, fmt.Sprintf("usage-%d-%s", width, scheme))
			}
			// axe, light and dark: serious or critical violations fail.
			checkA11y(t, ctx, "usage", width)
			// Tab reaches the chart at its latest bar (the expired key's
			// call); eight days back is the day of the other calls.
			runStep(t, ctx, "focus the chart",
				chromedp.Focus(chromedp.CSS(`nav[aria-label=Period] a:last-of-type`)),
				chromedp.KeyEvent(kb.Tab),
			)
			focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute('data-usage-bar') || document.activeElement.outerHTML.slice(0, 80)`))
			if err != nil || !strings.Contains(focused, "1 request. Authentication failed (401): 1") {
				t.Errorf("Tab from the period links lands on %q (%v), want the latest bar (the expired key's call)", focused, err)
			}
			for range 8 {
				runStep(t, ctx, "previous bar", chromedp.KeyEvent(kb.ArrowLeft))
			}
			readout, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-usage-readout]').textContent`))
			if err != nil || !strings.Contains(readout, "25 requests") || !strings.Contains(readout, "Successful (2xx): 8") || !strings.Contains(readout, "Client errors (other 4xx): 5") {
				t.Errorf("the focused bar of the mix's day shows %q (%v), want its numbers", readout, err)
			}
			outlined, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement.querySelector('.usage-slot')).strokeWidth`))
			if err != nil || outlined != "2px" {
				t.Errorf("the focused bar's outline: %q (%v)", outlined, err)
			}
			screenshot(t, ctx, fmt.Sprintf("usage-%d-focused", width))
			runStep(t, ctx, "first bar", chromedp.KeyEvent(kb.Home))
			first, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-usage-readout]').textContent`))
			if err != nil || !strings.HasSuffix(first, ": no requests") {
				t.Errorf("after Home the readout says %q (%v), want the first day's (empty) numbers", first, err)
			}
		})
	}
}
