package web_test

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// seedKeys generates named keys for the demo program; names ending in
// "(off)" are inactivated.
func seedKeys(t *testing.T, ts *testServer, names ...string) []keys.APIKey {
	t.Helper()
	var out []keys.APIKey
	for i, name := range names {
		k, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, keys.KeyInput{Name: name, Description: "Integration number " + string(rune('1'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if len(name) > 5 && name[len(name)-5:] == "(off)" {
			if k, err = ts.Store.Keys.SetActive(t.Context(), ts.Demo.Program.ID, audit.Actor{}, k.ID, false); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, *k)
	}
	return out
}

// readClipboard grants clipboard-read only now, after the copy, and reads
// what the page wrote: the write itself ran without any permission grant.
func readClipboard(t *testing.T, ctx context.Context, origin string) string {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: "clipboard-read"},
			Setting:    browser.PermissionSettingGranted,
			Origin:     origin,
		})
		return err
	})); err != nil {
		t.Fatalf("grant clipboard-read: %v", err)
	}
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read clipboard: %v", err)
	}
	return clip
}

// TestBrowserCopyAfterPasswordPrompt: Copy on a masked key asks for the
// password; pressing Confirm puts the full key on the clipboard, with no
// clipboard permission granted, at 1440 and 375 px.
func TestBrowserCopyAfterPasswordPrompt(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(itoa(int64(width)), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			k := seedKeys(t, ts, "Shopify sync")[0]
			secret := secretOf(t, ts, k)
			ctx := newBrowser(t, width, 900)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			runStep(t, ctx, "copy asks for the password",
				chromedp.Navigate(ts.URL+"/general/api-keys"),
				chromedp.Click(xpathButton("Copy API key")),
				chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
				chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
				settled(),
				// Each request now takes 3 s, so the password check and the
				// copy outlast the click's 5-second user activation: only a
				// clipboard write started inside the click itself succeeds,
				// as in Firefox and Safari, which allow nothing later.
				slowNetwork(3000),
				chromedp.Click(xpathButton("Confirm")),
			)
			runStep(t, ctx, "copied", chromedp.WaitVisible(chromedp.Search("//div[@data-toast]/p[contains(text(), 'copied to the clipboard') or contains(text(), 'Copy failed')]")))
			screenshot(t, ctx, "polish-copy-after-password-"+itoa(int64(width)))
			if failed, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector("[data-toast='error']")`)); failed {
				t.Fatal("an error toast appeared")
			}
			if clip := readClipboard(t, ctx, ts.URL); clip != secret {
				t.Fatalf("clipboard holds %q, want the full key", clip)
			}
			if got := ts.auditActions(t, ts.Demo.Program.ID); !containsAction(got, "api_key.copied:success") {
				t.Fatalf("copy not audited: %v", got)
			}
		})
	}
}

func containsAction(actions []string, want string) bool { return slices.Contains(actions, want) }

// slowNetwork adds latency to every request the page makes from now on.
func slowNetwork(ms float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Latency: ms, DownloadThroughput: -1, UploadThroughput: -1}},
		})
		return err
	})
}

// TestBrowserCopyFallbackRevealsWithFocusedCopy: in a browser without
// ClipboardItem, whose late write is refused, Copy after the password shows
// the key with Copy API key focused, for the user's own press.
func TestBrowserCopyFallbackRevealsWithFocusedCopy(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	k := seedKeys(t, ts, "Shopify sync")[0]
	secret := secretOf(t, ts, k)
	ctx := newBrowser(t, 1440, 900)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "copy asks for the password",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(xpathButton("Copy API key")),
		chromedp.Evaluate[chromedp.Void](`delete window.ClipboardItem`),
		chromedp.Click(xpathButton("Copy API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
		settled(),
		slowNetwork(3000),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
		chromedp.WaitVisible(chromedp.Search("//div[@data-toast='info']/p[contains(text(), 'press Copy API key')]")),
	)
	focused, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.getAttribute('aria-label')`))
	if err != nil || focused != "Copy API key" {
		t.Fatalf("focus after the fallback reveal = %q (%v), want Copy API key", focused, err)
	}
	// Pressing the focused Copy is the revealed row's ordinary copy, which
	// TestBrowserAPIKeyJourney drives.
}

// revealFirst reveals the named key through the password dialog.
func revealKey(t *testing.T, ctx context.Context, name, secret string) {
	t.Helper()
	runStep(t, ctx, "reveal "+name,
		chromedp.Click(chromedp.Search("//tr[.//p[text()='"+name+"']]//button[@aria-label='Show API key']")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
		settled(),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
		settled(),
	)
}

const columnsJS = `[...document.querySelectorAll('#keys-panel tr')].flatMap(r => [...r.children].filter(c => c.offsetParent !== null).map(c => { const b = c.getBoundingClientRect(); return Math.round(b.left) + ':' + Math.round(b.width) }))`

// pageOverflow is how far the page is wider than the viewport.
func pageOverflow(t *testing.T, ctx context.Context) int {
	t.Helper()
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow > 0 {
		culprits, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className.toString().slice(0, 60) + ' ' + Math.round(e.getBoundingClientRect().right))`))
		t.Logf("wider than the viewport: %v", culprits)
	}
	return overflow
}

// TestBrowserRevealKeepsLayout: revealing a key neither widens the page nor
// moves the table's columns, at 1440 and 375 px; the last row's menu opens
// on screen (upwards when needed) and the next dialog is centred.
func TestBrowserRevealKeepsLayout(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 700}} {
		t.Run(itoa(int64(size[0])), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			list := seedKeys(t, ts, "Shopify sync", "Mobile app", "Point of sale terminals in every store", "Legacy ERP (off)", "Warehouse", "Newsletter")
			secret := secretOf(t, ts, list[0])
			ctx := newBrowser(t, size[0], size[1])
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//p[text()='Newsletter']")))
			before, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](columnsJS))
			if err != nil {
				t.Fatal(err)
			}
			revealKey(t, ctx, "Shopify sync", secret)
			screenshot(t, ctx, "polish-revealed-"+itoa(int64(size[0])))
			if o := pageOverflow(t, ctx); o > 0 {
				t.Fatalf("revealing a key widens the page by %d px", o)
			}
			after, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](columnsJS))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(before, after) {
				t.Fatalf("revealing moved the columns:\nbefore %v\nafter  %v", before, after)
			}
			runStep(t, ctx, "last menu",
				chromedp.ScrollIntoView(chromedp.CSS("summary[aria-label='Actions for Newsletter']")),
				openMenu("Newsletter"),
				chromedp.WaitVisible(chromedp.Search("//tr[.//p[text()='Newsletter']]//button[normalize-space()='Edit']")),
			)
			screenshot(t, ctx, "polish-last-menu-"+itoa(int64(size[0])))
			rect, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const b = document.querySelector('details.menu[open] .menu-panel').getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom, window.innerWidth, window.innerHeight] })()`))
			if err != nil {
				t.Fatal(err)
			}
			if rect[0] < 0 || rect[1] < 0 || rect[2] > rect[4] || rect[3] > rect[5] {
				t.Fatalf("the last row's menu is off screen: %v", rect)
			}
			if o := pageOverflow(t, ctx); o > 0 {
				t.Fatalf("the open menu widens the page by %d px", o)
			}
			runStep(t, ctx, "edit dialog",
				chromedp.Click(chromedp.Search("//tr[.//p[text()='Newsletter']]//button[normalize-space()='Edit']")),
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
				settled(),
			)
			screenshot(t, ctx, "polish-edit-dialog-"+itoa(int64(size[0])))
			d, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const b = document.querySelector('dialog#modal').getBoundingClientRect(); return [b.left, window.innerWidth - b.right] })()`))
			if err != nil {
				t.Fatal(err)
			}
			if diff := d[0] - d[1]; diff > 2 || diff < -2 || d[0] < 0 {
				t.Fatalf("the dialog is off centre: left %v, right %v", d[0], d[1])
			}
		})
	}
}

// activeLabel describes the focused element: its accessible label or text.
const activeLabelJS = `(() => { const a = document.activeElement; return (a.getAttribute('aria-label') || a.textContent.trim()).slice(0, 80) })()`

func focusIs(t *testing.T, ctx context.Context, step, want string) {
	t.Helper()
	// Focus moves once the swapped panel has settled: wait for it a moment.
	pollCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, _ = chromedp.Run(pollCtx, chromedp.Poll[bool](activeLabelJS+` === `+strconv.Quote(want), chromedp.WithPollingInterval(20*time.Millisecond)))
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](activeLabelJS))
	if err != nil || got != want {
		t.Fatalf("%s: focus on %q (%v), want %q", step, got, err, want)
	}
}

func rowMenuButton(row, item string) chromedp.Search {
	return chromedp.Search("//tr[.//p[text()='" + row + "']]//button[normalize-space()='" + item + "']")
}

// openMenu opens a row's menu and waits until app.js has placed its panel
// (below the button, or above it near the bottom of the window): a click
// before that can land where the panel no longer is.
func openMenu(row string) chromedp.Action[chromedp.Void] {
	summary := "summary[aria-label='Actions for " + row + "']"
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return chromedp.Do(ctx,
			chromedp.Click(chromedp.CSS(summary)),
			chromedp.WaitVisible(chromedp.CSS("details[open] > "+summary+" + .menu-panel[data-placed]")),
		)
	})
}

// TestBrowserFocusReturnsToTheRow: after Edit, Inactivate, Activate and
// Delete focus is on the row's menu button (the next row's after a
// delete), not the page heading, at 1440 and 375 px.
func TestBrowserFocusReturnsToTheRow(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(itoa(int64(width)), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			seedKeys(t, ts, "Shopify sync", "Mobile app", "Legacy ERP (off)", "Warehouse")
			ctx := newBrowser(t, width, 900)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//p[text()='Warehouse']")))
			runStep(t, ctx, "edit",
				openMenu("Mobile app"), chromedp.Click(rowMenuButton("Mobile app", "Edit")),
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")), settled(),
				chromedp.Clear(chromedp.CSS("#key-name")),
				chromedp.SendKeys(chromedp.CSS("#key-name"), "Mobile app v2"),
				chromedp.Click(xpathButton("Save")),
				chromedp.WaitVisible(chromedp.Search("//p[text()='Mobile app v2']")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
				settled(),
			)
			focusIs(t, ctx, "after Edit", "Actions for Mobile app v2")
			runStep(t, ctx, "inactivate", dismissToasts(),
				openMenu("Mobile app v2"), chromedp.Click(rowMenuButton("Mobile app v2", "Inactivate")),
				chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Inactivate')]")), settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Inactivate']")),
				chromedp.WaitVisible(menuItemPresent("Mobile app v2", "Activate")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
				settled(),
			)
			focusIs(t, ctx, "after Inactivate", "Actions for Mobile app v2")
			runStep(t, ctx, "activate", dismissToasts(),
				openMenu("Legacy ERP (off)"), chromedp.Click(rowMenuButton("Legacy ERP (off)", "Activate")),
				chromedp.WaitVisible(menuItemPresent("Legacy ERP (off)", "Inactivate")),
				settled(),
			)
			focusIs(t, ctx, "after Activate", "Actions for Legacy ERP (off)")
			runStep(t, ctx, "delete", dismissToasts(),
				openMenu("Mobile app v2"), chromedp.Click(rowMenuButton("Mobile app v2", "Delete")),
				chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Delete')]")), settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Delete']")),
				chromedp.WaitNotPresent(chromedp.Search("//p[text()='Mobile app v2']")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
				settled(),
			)
			focusIs(t, ctx, "after Delete", "Actions for Legacy ERP (off)")
		})
	}
}

// menuItemPresent finds a row menu's item, open or not.
func menuItemPresent(row, item string) chromedp.Search {
	return chromedp.Search("//tr[.//p[text()='" + row + "']]//button[normalize-space()='" + item + "']")
}

// dismissToasts closes the toasts, as a person would before reaching for
// what a toast covers on a phone.
func dismissToasts() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#toasts [data-toast]').forEach(t => t.remove())`)
}

// TestBrowserPasswordDialogRoughEdges: a wrong password's error is gone
// when the dialog opens again, and a style a password manager puts on the
// field is not copied onto the re-rendered form (no CSP violation).
func TestBrowserPasswordDialogRoughEdges(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync")
	ctx := newBrowser(t, 375, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "wrong password",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.Evaluate[chromedp.Void](`window.violations = []; document.addEventListener('securitypolicyviolation', e => window.violations.push(e.violatedDirective + ' ' + e.sample))`),
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		// What a password manager does: style the field through the CSSOM.
		chromedp.Evaluate[chromedp.Void](`document.getElementById('reauth-password').style.backgroundColor = 'rgb(232, 240, 254)'`),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), "not the password"),
		settled(),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.CSS("#reauth-error")),
	)
	screenshot(t, ctx, "polish-password-error-375")
	if v, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.violations`)); len(v) > 0 {
		t.Fatalf("CSP violations: %v", v)
	}
	runStep(t, ctx, "cancel and reopen",
		chromedp.Click(chromedp.Search("//dialog[@id='reauth-dialog']//button[normalize-space()='Cancel']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#reauth-dialog[open]")),
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
	)
	if stale, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('#reauth-error') || document.getElementById('reauth-password').hasAttribute('aria-invalid')`)); stale {
		t.Fatal("the last attempt's error is shown when the dialog opens again")
	}
}

// TestBrowserSessionEndedDuringAnAction: an htmx action after the session
// ended leads to the sign-in page saying so, and signing in returns to the
// page the admin was on.
func TestBrowserSessionEndedDuringAnAction(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Legacy ERP (off)")
	ctx := newBrowser(t, 375, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys?sort=name"), chromedp.WaitVisible(chromedp.CSS("summary[aria-label='Actions for Legacy ERP (off)']")))
	if err := ts.Store.DB.Exec("DELETE FROM sessions").Error; err != nil {
		t.Fatal(err)
	}
	runStep(t, ctx, "activate after the session ended",
		openMenu("Legacy ERP (off)"), chromedp.Click(rowMenuButton("Legacy ERP (off)", "Activate")),
		chromedp.WaitVisible(chromedp.Search("//p[@role='status' and text()='Your session has ended. Sign in again.']")),
	)
	screenshot(t, ctx, "polish-session-ended-375")
	runStep(t, ctx, "sign in again",
		chromedp.SendKeys(chromedp.CSS("#email"), ts.Demo.Full.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), modeltest.Password),
		chromedp.Click(xpathButton("Sign in")),
		chromedp.WaitVisible(chromedp.CSS("summary[aria-label='Actions for Legacy ERP (off)']")),
	)
	loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil || loc != "/general/api-keys?sort=name" {
		t.Fatalf("after signing in the page is %q (%v), want the page the action came from", loc, err)
	}
}

const visibleRowsJS = `[...document.querySelectorAll('#keys-panel tbody tr')].filter(r => r.offsetParent !== null).map(r => r.querySelector('p').textContent)`

// TestBrowserSearchFilterSort: Search keys matches name, description and
// identifier; Status filters; Sort by orders by name, created and last
// used; the choice survives an action's re-render and a reload.
func TestBrowserSearchFilterSort(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(itoa(int64(width)), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			list := seedKeys(t, ts, "Shopify sync", "Mobile app", "Legacy ERP (off)", "Warehouse")
			if err := ts.Store.DB.Exec("UPDATE api_keys SET last_used_at = created_at WHERE id = ?", list[1].ID).Error; err != nil {
				t.Fatal(err)
			}
			ctx := newBrowser(t, width, 900)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			rows := func(step string, want ...string) {
				t.Helper()
				// The panel settles a moment after a swap: wait for the order.
				wantJSON, _ := json.Marshal(want)
				pollCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				_, _ = chromedp.Run(pollCtx, chromedp.Poll[bool](`JSON.stringify(`+visibleRowsJS+`) === `+strconv.Quote(string(wantJSON)), chromedp.WithPollingInterval(20*time.Millisecond)))
				got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](visibleRowsJS))
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("%s: rows %v (%v), want %v", step, got, err, want)
				}
			}
			runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//label[text()='Search keys']")))
			runStep(t, ctx, "search by description", chromedp.SendKeys(chromedp.CSS("#keys-search"), "number 2"))
			rows("by description", "Mobile app")
			runStep(t, ctx, "search by identifier", setField("keys-search", ""), chromedp.SendKeys(chromedp.CSS("#keys-search"), list[3].Identifier[4:12]))
			rows("by identifier", "Warehouse")
			screenshot(t, ctx, "polish-search-"+itoa(int64(width)))
			runStep(t, ctx, "no match", chromedp.SendKeys(chromedp.CSS("#keys-search"), "zzz"), chromedp.WaitVisible(chromedp.CSS("#keys-no-match")))
			runStep(t, ctx, "clear", chromedp.Click(xpathButton("Clear search and filter")), chromedp.WaitNotVisible(chromedp.CSS("#keys-no-match")))
			rows("cleared", "Shopify sync", "Mobile app", "Legacy ERP (off)", "Warehouse")
			runStep(t, ctx, "status", chromedp.SetValue(chromedp.CSS("#keys-status"), "inactive"), chromedp.Evaluate[chromedp.Void](`document.getElementById('keys-status').dispatchEvent(new Event('input', {bubbles: true}))`))
			rows("inactive", "Legacy ERP (off)")
			count, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('keys-filter-count').textContent`))
			if count != "Showing 1 of 4 keys." {
				t.Fatalf("the live region says %q", count)
			}
			sortBy := func(v string) chromedp.Action[chromedp.Void] {
				return chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('keys-sort'); s.value = '` + v + `'; s.dispatchEvent(new Event('input', {bubbles: true})) })()`)
			}
			runStep(t, ctx, "all, by name", chromedp.SetValue(chromedp.CSS("#keys-status"), ""), chromedp.Evaluate[chromedp.Void](`document.getElementById('keys-status').dispatchEvent(new Event('input', {bubbles: true}))`), sortBy("name"))
			rows("by name", "Legacy ERP (off)", "Mobile app", "Shopify sync", "Warehouse")
			runStep(t, ctx, "newest", sortBy("newest"))
			rows("newest", "Warehouse", "Legacy ERP (off)", "Mobile app", "Shopify sync")
			runStep(t, ctx, "last used", sortBy("last-used"))
			rows("last used", "Mobile app", "Shopify sync", "Legacy ERP (off)", "Warehouse")
			runStep(t, ctx, "by name again", sortBy("name"))
			// An action re-renders the panel: the order stays.
			runStep(t, ctx, "activate", openMenu("Legacy ERP (off)"), chromedp.Click(rowMenuButton("Legacy ERP (off)", "Activate")), chromedp.WaitVisible(menuItemPresent("Legacy ERP (off)", "Inactivate")))
			rows("after an action", "Legacy ERP (off)", "Mobile app", "Shopify sync", "Warehouse")
			runStep(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#keys-sort")))
			rows("after a reload", "Legacy ERP (off)", "Mobile app", "Shopify sync", "Warehouse")
			if o := pageOverflow(t, ctx); o > 0 {
				t.Fatalf("the toolbar widens the page by %d px", o)
			}
			screenshot(t, ctx, "polish-sorted-"+itoa(int64(width)))
		})
	}
}

// setField sets a field's value as typing would, with an input event.
func setField(id, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById(` + strconv.Quote(id) + `); f.value = ` + strconv.Quote(value) + `; f.dispatchEvent(new Event('input', {bubbles: true})) })()`)
}

// TestBrowserIntegratorHelpAndReauthWindow: the API Keys page shows the
// partner ID and a copyable request, explains the identifier (JWT sub), and,
// after the password, until when keys show without it.
func TestBrowserIntegratorHelpAndReauthWindow(t *testing.T) {
	// The example request names the configured base URL (a host name:
	// passkeys refuse an IP address), not the address the browser used.
	ts := newTestServer(t, modeltest.SQLite(t), withListenerBaseURL("localhost"))
	baseURL := strings.Replace(ts.URL, "127.0.0.1", "localhost", 1)
	k := seedKeys(t, ts, "Shopify sync")[0]
	ctx := newBrowser(t, 375, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//h2[text()='Calling the API']")))
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[aria-labelledby=integrate-heading]').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{ts.Demo.Program.PartnerID, "curl " + baseURL + "/v2/loyalty/program", "partner-id: " + ts.Demo.Program.PartnerID, "sub"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the help lacks %q:\n%s", want, text)
		}
	}
	runStep(t, ctx, "copy example", chromedp.Click(xpathButton("Copy example")), chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']")))
	if clip := readClipboard(t, ctx, ts.URL); !strings.Contains(clip, "api-key: $KEYDESK_API_KEY") {
		t.Fatalf("the clipboard holds %q", clip)
	}
	revealKey(t, ctx, "Shopify sync", secretOf(t, ts, k))
	notice, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('reauth-window').textContent`))
	if err != nil || !regexp.MustCompile(`^You can show keys without your password until \d?\d:\d\d( [AP]M)?\.$`).MatchString(notice) {
		t.Fatalf("re-auth notice %q (%v)", notice, err)
	}
	runStep(t, ctx, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#reauth-window time")))
	screenshot(t, ctx, "polish-help-375")
}

// TestBrowserAuditFilters: From and To show only for a custom period, and
// on a phone the filters fold away until opened.
func TestBrowserAuditFilters(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	ctx := newBrowser(t, 375, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "audit trail", chromedp.Navigate(ts.URL+"/general/audit-trail"), chromedp.WaitVisible(chromedp.Search("//summary[contains(., 'Filters')]")))
	screenshot(t, ctx, "polish-audit-filters-folded-375")
	runStep(t, ctx, "open filters", chromedp.Click(chromedp.Search("//summary[contains(., 'Filters')]")), chromedp.WaitVisible(chromedp.CSS("#audit-period")), chromedp.WaitNotVisible(chromedp.CSS("#audit-from")))
	runStep(t, ctx, "custom period",
		chromedp.SetValue(chromedp.CSS("#audit-period"), "custom"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('audit-period').dispatchEvent(new Event('change'))`),
		chromedp.WaitVisible(chromedp.CSS("#audit-from")), chromedp.WaitVisible(chromedp.CSS("#audit-to")))
	screenshot(t, ctx, "polish-audit-filters-custom-375")
}
