package web_test

import (
	"context"
	_ "embed"
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"keydesk/models/modeltest"
)

// axeSource is axe-core, vendored from npm (make axe) for tests only: no
// console page serves it.
//
//go:embed testdata/axe.min.js
var axeSource string

// colorScheme emulates prefers-color-scheme.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

const axeRunJS = `(async () => {
	const r = await axe.run(document, {resultTypes: ['violations']});
	return JSON.stringify(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\s+/g, ' ').slice(0, 160))})));
})()`

// checkA11y runs axe on the page as it is, in light and dark, at the
// browser's width, screenshots both, and fails on serious or critical
// violations (moderate and minor ones are logged).
func checkA11y(t *testing.T, ctx context.Context, screen string, width int) {
	t.Helper()
	if loaded, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe !== 'undefined'`)); !loaded {
		runStep(t, ctx, "load axe "+screen, chromedp.Evaluate[chromedp.Void](axeSource))
	}
	for _, scheme := range []string{"light", "dark"} {
		runStep(t, ctx, screen+" "+scheme, dismissToasts(), colorScheme(scheme), settled())
		screenshot(t, ctx, "a11y-"+screen+"-"+itoa(int64(width))+"-"+scheme)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRunJS, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("axe on %s (%s): %v", screen, scheme, err)
		}
		var violations []axeViolation
		if err := json.Unmarshal([]byte(raw), &violations); err != nil {
			t.Fatal(err)
		}
		for _, v := range violations {
			msg := screen + " at " + itoa(int64(width)) + " px, " + scheme + ": " + v.Impact + " " + v.ID + " (" + v.Help + ")\n    " + strings.Join(v.Nodes, "\n    ")
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Error(msg)
			} else {
				t.Log(msg)
			}
		}
	}
	runStep(t, ctx, "back to light", colorScheme("light"))
}

// TestBrowserAccessibility runs axe-core on every screen and dialog, in the
// light and dark schemes, at 1440 and 375 px.
func TestBrowserAccessibility(t *testing.T) {
	for _, size := range [][2]int{{1440, 900}, {375, 800}} {
		width := size[0]
		t.Run(itoa(int64(width)), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			ctx := newBrowser(t, size[0], size[1])
			must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				runStep(t, ctx, step, actions...)
			}
			must("sign-in page", chromedp.Navigate(ts.URL+"/login?ended=1"), chromedp.WaitVisible(chromedp.CSS("#email")))
			checkA11y(t, ctx, "sign-in", width)
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)

			must("empty API Keys", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//h3[text()='No API keys yet']")))
			checkA11y(t, ctx, "api-keys-empty", width)
			must("generate dialog", chromedp.Click(xpathButton("Generate API Key")), chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")))
			checkA11y(t, ctx, "generate-dialog", width)
			must("validation error", settled(), chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")), chromedp.WaitVisible(chromedp.CSS("#key-name-error")))
			checkA11y(t, ctx, "generate-dialog-error", width)
			must("close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))

			list := seedKeys(t, ts, "Shopify sync", "Mobile app", "Legacy ERP (off)")
			must("API Keys", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//p[text()='Legacy ERP (off)']")))
			checkA11y(t, ctx, "api-keys", width)
			must("menu", openMenu("Legacy ERP (off)"), chromedp.WaitVisible(rowMenuButton("Legacy ERP (off)", "Delete")))
			checkA11y(t, ctx, "row-menu", width)
			must("delete dialog", chromedp.Click(rowMenuButton("Legacy ERP (off)", "Delete")), chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Delete')]")))
			checkA11y(t, ctx, "delete-dialog", width)
			must("close delete", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))
			must("inactivate dialog", openMenu("Mobile app"), chromedp.Click(rowMenuButton("Mobile app", "Inactivate")), chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Inactivate')]")))
			checkA11y(t, ctx, "inactivate-dialog", width)
			must("close inactivate", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))
			must("edit dialog", openMenu("Mobile app"), chromedp.Click(rowMenuButton("Mobile app", "Edit")), chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")))
			checkA11y(t, ctx, "edit-dialog", width)
			must("close edit", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))
			must("password dialog", chromedp.Click(chromedp.Search("//tr[.//p[text()='Shopify sync']]//button[@aria-label='Show API key']")), chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")))
			checkA11y(t, ctx, "password-dialog", width)
			must("wrong password", chromedp.SendKeys(chromedp.CSS("#reauth-password"), "wrong"), settled(), chromedp.Click(xpathButton("Confirm")), chromedp.WaitVisible(chromedp.CSS("#reauth-error")))
			checkA11y(t, ctx, "password-dialog-error", width)
			must("close password", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#reauth-dialog[open]")))
			revealKey(t, ctx, "Shopify sync", secretOf(t, ts, list[0]))
			checkA11y(t, ctx, "revealed", width)
			must("no match", setField("keys-search", "zzz"), chromedp.WaitVisible(chromedp.CSS("#keys-no-match")))
			checkA11y(t, ctx, "search-no-match", width)

			must("settings", chromedp.Navigate(ts.URL+"/general/settings"), chromedp.WaitVisible(chromedp.Search("//h2[text()='Default API key']")))
			checkA11y(t, ctx, "settings", width)
			must("API reference", chromedp.Navigate(ts.URL+"/general/api-reference"), chromedp.WaitVisible(chromedp.Search("//h1[text()='API reference']")))
			checkA11y(t, ctx, "api-reference", width)
			must("audit trail", chromedp.Navigate(ts.URL+"/general/audit-trail"), chromedp.WaitVisible(chromedp.CSS("main h1")))
			checkA11y(t, ctx, "audit-trail", width)
			must("not found", chromedp.Navigate(ts.URL+"/general/nothing-here"), chromedp.WaitVisible(chromedp.CSS("main h1")))
			checkA11y(t, ctx, "not-found", width)

			must("sign out", chromedp.Navigate(ts.URL+"/general/settings"), chromedp.Click(xpathButton("Sign out")), chromedp.WaitVisible(chromedp.CSS("#email")))
			browserLogin(t, ctx, ts.URL, ts.Demo.Limited.Email)
			must("no access", chromedp.WaitVisible(chromedp.CSS("main h1")))
			checkA11y(t, ctx, "limited-no-access", width)
			must("forbidden", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//h1[text()='Access denied']")))
			checkA11y(t, ctx, "limited-forbidden", width)
		})
	}
}
