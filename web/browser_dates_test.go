package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keydesk/models/modeltest"
)

// chooseExpiry picks an Expires option as a person does: the select's
// change event follows.
func chooseExpiry(value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#key-expiry'); s.value = '` + value + `'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
}

// TestBrowserCustomExpiryDate: the Expiry date field appears only for
// Custom date and is required then; an empty one is refused with words
// that fit the picker; the row of a key expiring on a picked day names that
// day and the minute, with the zone, it works until. 1440 and 375 px, light
// and dark.
func TestBrowserCustomExpiryDate(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(itoa(int64(size[0]))+"-"+scheme, func(t *testing.T) {
				ts := newTestServer(t, modeltest.SQLite(t))
				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				picked := time.Now().UTC().AddDate(0, 0, 45)
				day := picked.Format(time.DateOnly)
				runStep(t, ctx, "open Generate", colorScheme(scheme),
					chromedp.Navigate(ts.URL+"/general/api-keys"),
					chromedp.Click(xpathButton("Generate API Key")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-expiry")),
					settled(),
				)
				if visible, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#key-expiry-date').offsetParent !== null`)); visible {
					t.Fatal("Expiry date is shown while Expires is Never")
				}
				runStep(t, ctx, "Custom date shows the date field, required",
					chromedp.SendKeys(chromedp.CSS("#key-name"), "Picked day"),
					chooseExpiry("custom"),
					chromedp.WaitVisible(chromedp.CSS("#key-expiry-date")),
				)
				if required, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#key-expiry-date').required`)); !required {
					t.Fatal("Expiry date is not required for Custom date")
				}
				runStep(t, ctx, "an empty date is refused with the picker's words",
					chromedp.Evaluate[chromedp.Void](`document.querySelector('#key-expiry-date').closest('form').noValidate = true`),
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
					chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//*[@id='key-expiry-date-error'][normalize-space()='Choose the expiry date.']")),
					settled(),
				)
				screenshot(t, ctx, "dates-empty-custom-"+itoa(int64(size[0]))+"-"+scheme)
				runStep(t, ctx, "generate with the picked day",
					chromedp.SetValue(chromedp.CSS("#key-expiry-date"), day),
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #new-key-secret")),
					settled(),
				)
				want := picked.Format("Jan 2, 2006")
				shown, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('dialog#modal').innerText`))
				if !strings.Contains(shown, "Expires after "+want+": works until "+want+", 23:59 UTC") {
					t.Errorf("the shown-once dialog says %q, want the picked day %s until 23:59 UTC", shown, want)
				}
				runStep(t, ctx, "close",
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Done']")),
					chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
					chromedp.WaitVisible(chromedp.CSS("[data-key-expiry]")),
				)
				row, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-key-expiry]').innerText`))
				if row != "Expires after "+want+": works until 23:59 UTC" {
					t.Errorf("row says %q, want the picked day %s, until 23:59 UTC", row, want)
				}
				screenshot(t, ctx, "dates-row-"+itoa(int64(size[0]))+"-"+scheme)
				if key := keyByName(t, ts, ts.Demo.Program.ID, "Picked day"); key.ExpiresAt == nil || !key.ExpiresAt.Equal(time.Date(picked.Year(), picked.Month(), picked.Day()+1, 0, 0, 0, 0, time.UTC)) {
					t.Errorf("stored expiry %v, want the end of %s UTC", key.ExpiresAt, day)
				}
			})
		}
	}
}

// TestBrowserEditRiskAsksFirst: Save with Restricted and nothing ticked
// keeps the dialog open with the warning and Save anyway; pressing it
// saves. 1440 and 375 px, light and dark.
func TestBrowserEditRiskAsksFirst(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		for _, scheme := range []string{"light", "dark"} {
			t.Run(itoa(int64(size[0]))+"-"+scheme, func(t *testing.T) {
				ts := newTestServer(t, modeltest.SQLite(t))
				k := seedKeys(t, ts, "Shopify sync")[0]
				ctx := newBrowser(t, size[0], size[1])
				browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
				runStep(t, ctx, "edit: Restricted, nothing ticked", colorScheme(scheme),
					chromedp.Navigate(ts.URL+"/general/api-keys"),
					menuItem("Shopify sync", "Edit"),
					chromedp.WaitVisible(chromedp.CSS(`dialog#modal[open] input[name=access][value=restricted]`)),
					settled(),
					chromedp.Click(chromedp.CSS(`dialog#modal input[name=access][value=restricted]`)),
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] [data-edit-risk]")),
					settled(),
				)
				screenshot(t, ctx, "edit-risk-"+itoa(int64(size[0]))+"-"+scheme)
				if got, _ := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, k.ID); got.Restricted {
					t.Fatal("saved before the admin confirmed")
				}
				runStep(t, ctx, "Save anyway",
					chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save anyway']")),
					chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
					chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[contains(., 'saved')]")),
				)
				if got, _ := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, k.ID); !got.Restricted {
					t.Fatal("Save anyway did not save")
				}
			})
		}
	}
}
