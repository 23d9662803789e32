package web_test

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/routes"
)

// TestBrowserAPIKeyUsageAt375 opens a key's usage view on a phone-sized
// screen: nothing overflows sideways and the chart is drawn.
func TestBrowserAPIKeyUsageAt375(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t), withAPIConfig(func(c *config.API) { c.ReadPerMinute = 6 }))
	demo := ts.Demo.Program
	shop, secret := apiKey(t, ts, demo.ID, "Shop")
	for range 9 {
		apiCall(t, ts.URL, http.MethodGet, "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "")
	}
	if err := ts.App.FlushUsage(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := newBrowser(t, 375, 812)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "open the usage view",
		chromedp.Navigate(ts.URL+routes.APIKeyUsage(shop.ID)),
		chromedp.WaitVisible(chromedp.Search("//dt[text()='Successful requests']")),
	)
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || overflow {
		t.Errorf("the page scrolls sideways at 375 px (%v)", err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('svg[role=img] rect')].filter(r => r.getBoundingClientRect().height > 0).length`))
	if err != nil || bars != 2 {
		t.Errorf("visible bars: %d (%v), want the current hour's successful and failed parts", bars, err)
	}
	screenshot(t, ctx, "usage-375")
}
