package web_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keydesk/models/modeltest"
)

// TestBrowserKeyLifecycleJourney drives issue 12 as an admin would, and
// after each step calls the API with the secret(s) to see its answer
// change: Generate with an expiry, the new key shown once and copied, Roll
// key with an overlap (both secrets work), Restricted permissions (403 for
// a missing one), an allowlist (403 from another address, 200 again once
// the caller's range is listed), Expire old key now (the old secret 401).
// Then the same screens at 375 px, without horizontal overflow.
func TestBrowserKeyLifecycleJourney(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	partner := ts.Demo.Program.PartnerID
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(ts.Logs.String())
		}
	})
	ctx := newBrowser(t, 1440, 900)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runStep(t, ctx, step, actions...)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+"`"+sel+"`"+`).textContent.trim()`))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}
	status := func(path, secret string) apiResponse {
		t.Helper()
		return apiCall(t, ts.URL, "GET", path, restHeaders(partner, secret), "")
	}
	wantStatus := func(step, path, secret string, want int) {
		t.Helper()
		if r := status(path, secret); r.Status != want {
			t.Fatalf("%s: GET %s answered %d %s, want %d", step, path, r.Status, r.Raw, want)
		}
	}
	noOverflow := func(what string) {
		t.Helper()
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.max(document.documentElement.scrollWidth - window.innerWidth, ...[...document.querySelectorAll('dialog[open]')].map(d => d.scrollWidth - d.clientWidth))`))
		if err != nil || overflow > 0 {
			culprits, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className.toString().slice(0, 60) + ' ' + Math.round(e.getBoundingClientRect().right))`))
			t.Fatalf("%s overflows horizontally by %d px (%v); wider than the viewport: %v", what, overflow, err, culprits)
		}
	}
	const row = "//tr[.//p[text()='Checkout']]"
	openMenuItem := func(step, item string) {
		t.Helper()
		must(step, menuItem("Checkout", item))
	}
	newKeyDialog := func(step string) string {
		t.Helper()
		must(step, chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #new-key-secret")), settled())
		return text("#new-key-secret")
	}
	closeNewKey := func(step string) {
		t.Helper()
		// Done closes the dialog; the panel behind it has reloaded itself
		// with the key's row by then.
		must(step,
			chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Done']")),
			chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
		)
	}
	saveEdit := func(step, waitFor string) {
		t.Helper()
		must(step,
			settled(),
			chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save']")),
			chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
			chromedp.WaitVisible(chromedp.Search(row+waitFor)),
		)
	}

	// 1. Generate with Expires 30 days: the new key is shown once.
	must("open Generate",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(chromedp.Search("//h3[text()='No API keys yet']")),
		chromedp.Click(xpathButton("Generate API Key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-expiry")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Checkout"),
		chromedp.SetValue(chromedp.CSS("#key-expiry"), "30d"),
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
	)
	first := newKeyDialog("new key shown once")
	screenshot(t, ctx, "30-new-key-dialog-1440")
	key := keyByName(t, ts, ts.Demo.Program.ID, "Checkout")
	if first != secretOf(t, ts, key) {
		t.Fatalf("the dialog shows %q, not the key's secret", first)
	}
	if key.ExpiresAt == nil {
		t.Fatal("Expires 30 days left the key without an expiry")
	}
	// Copy new key: no clipboard permission is granted; the page's own
	// click is the user gesture Chromium asks for, and the toast says so.
	must("copy new key",
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Copy new key']")),
		chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[text()='Copied to the clipboard.']")),
	)
	if copied, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('dialog#modal button[data-copy-text]')].find(b => b.textContent.trim() === 'Copy new key').getAttribute('data-copy-text')`)); copied != first {
		t.Fatalf("Copy new key copies %q, want the shown key", copied)
	}
	closeNewKey("close new key dialog")
	must("row says Expires", chromedp.WaitVisible(chromedp.Search(row+"//p[@data-key-expiry][starts-with(normalize-space(), 'Expires')]")))
	wantStatus("generated", "/v2/loyalty/program", first, 200)

	// 2. Roll key, old key stops working In 1 hour: password first.
	openMenuItem("open Roll key", "Roll key")
	must("password for Roll",
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
		settled(),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #roll-old-key-stops")),
		chromedp.SetValue(chromedp.CSS("#roll-old-key-stops"), "1h"),
		settled(),
	)
	screenshot(t, ctx, "31-roll-dialog-1440")
	must("roll", chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Roll key']")))
	second := newKeyDialog("rolled key shown once")
	screenshot(t, ctx, "32-rolled-key-dialog-1440")
	if second == first || second != secretOf(t, ts, keyByName(t, ts, ts.Demo.Program.ID, "Checkout")) {
		t.Fatalf("after the roll the dialog shows %q", second)
	}
	closeNewKey("close rolled key dialog")
	must("row says until when the old key works", chromedp.WaitVisible(chromedp.Search(row+"//p[@data-key-roll][starts-with(normalize-space(), 'Old key works until')]")))
	wantStatus("old secret during the overlap", "/v2/loyalty/program", first, 200)
	wantStatus("new secret after the roll", "/v2/loyalty/program", second, 200)

	// 3. Restricted to Members: read: the program call is 403 naming the
	// missing permission; listing members still works.
	openMenuItem("open Edit", "Edit")
	must("restrict",
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-allowed-ips")),
		chromedp.Click(chromedp.CSS("dialog#modal input[name=access][value=restricted]")),
		chromedp.Click(chromedp.CSS("dialog#modal input[name=permissions][value='members:read']")),
	)
	screenshot(t, ctx, "33-edit-dialog-1440")
	saveEdit("save permissions", "//span[normalize-space()='Restricted']")
	assertForbidden(t, "restricted, new secret", status("/v2/loyalty/program", second), "Program: read")
	assertForbidden(t, "restricted, old secret", status("/v2/loyalty/program", first), "Program: read")
	wantStatus("members:read", "/v2/loyalty/members", second, 200)

	// 4. Allowed IP addresses: a bad entry is refused with its reason and
	// changes nothing; a foreign range refuses this caller (127.0.0.1);
	// listing the loopback ranges lets it in again.
	openMenuItem("open Edit for addresses", "Edit")
	must("bad address",
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-allowed-ips")),
		chromedp.SetValue(chromedp.CSS("#key-allowed-ips"), "300.1.2.3"),
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save']")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-allowed-ips-error")),
	)
	if k := keyByName(t, ts, ts.Demo.Program.ID, "Checkout"); k.AllowedIPs != "" {
		t.Fatalf("a refused allowlist was saved: %q", k.AllowedIPs)
	}
	// A range that leaves out this admin's own address (127.0.0.1) asks
	// first, naming the address; Save anyway saves.
	must("foreign range asks first",
		chromedp.SetValue(chromedp.CSS("#key-allowed-ips"), "203.0.113.0/24"),
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save']")),
		chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//*[@data-edit-risk][contains(., '127.0.0.1')]")),
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Save anyway']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
		chromedp.WaitVisible(chromedp.Search(row+"//span[contains(normalize-space(), 'Only from 203.0.113.0/24')]")),
	)
	assertForbidden(t, "other address", status("/v2/loyalty/members", second), "IP address")
	openMenuItem("open Edit for loopback", "Edit")
	must("loopback and Program: read",
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-allowed-ips")),
		chromedp.SetValue(chromedp.CSS("#key-allowed-ips"), "127.0.0.0/8\n::1"),
		chromedp.Click(chromedp.CSS("dialog#modal input[name=permissions][value='program:read']")),
	)
	saveEdit("save loopback", "//span[contains(normalize-space(), 'Only from 2 addresses')]")
	wantStatus("allowed address, new secret", "/v2/loyalty/program", second, 200)
	wantStatus("allowed address, old secret still in its overlap", "/v2/loyalty/program", first, 200)
	assertForbidden(t, "no members:write", apiCall(t, ts.URL, "POST", "/v2/loyalty/members",
		map[string]string{"partner-id": partner, "api-key": second, "Content-Type": "application/json"}, `{"member_id":"m-9","email":"a@example.com"}`), "Members: write")
	screenshot(t, ctx, "34-notices-1440")

	// 5. Expire old key now: the old secret is refused, the new one works.
	openMenuItem("open Expire old key now", "Expire old key now")
	must("expire dialog", chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[starts-with(normalize-space(), 'Expire the old key')]")), settled())
	screenshot(t, ctx, "35-expire-old-dialog-1440")
	must("expire old key",
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Expire old key now']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
		chromedp.WaitNotPresent(chromedp.Search(row+"//p[@data-key-roll]")),
	)
	assertUnauthorized(t, "old secret after Expire old key now", status("/v2/loyalty/program", first))
	wantStatus("new secret after Expire old key now", "/v2/loyalty/program", second, 200)

	// 6. 375 px: the list with its notices and every dialog fit.
	must("mobile list",
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(chromedp.Search(row)),
	)
	noOverflow("the API Keys page at 375 px")
	openMenuItem("mobile Edit", "Edit")
	must("mobile Edit dialog", chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-allowed-ips")), settled())
	noOverflow("the Edit dialog at 375 px")
	screenshot(t, ctx, "40-edit-dialog-375")
	must("close Edit", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))
	openMenuItem("mobile Roll key", "Roll key")
	must("mobile Roll dialog",
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #roll-old-key-stops")),
		chromedp.SetValue(chromedp.CSS("#roll-old-key-stops"), "7d"),
		settled(),
	)
	noOverflow("the Roll dialog at 375 px")
	screenshot(t, ctx, "41-roll-dialog-375")
	must("mobile roll", chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Roll key']")))
	third := newKeyDialog("mobile rolled key shown once")
	noOverflow("the new-key dialog at 375 px")
	screenshot(t, ctx, "42-new-key-dialog-375")
	closeNewKey("close mobile new key dialog")
	must("mobile notices", chromedp.WaitVisible(chromedp.Search(row+"//p[@data-key-roll]")))
	noOverflow("the API Keys page with notices at 375 px")
	screenshot(t, ctx, "43-notices-375")
	wantStatus("rolled twice, the second secret in its overlap", "/v2/loyalty/program", second, 200)
	wantStatus("rolled twice, the third secret", "/v2/loyalty/program", third, 200)
	assertUnauthorized(t, "the first secret stays dead", status("/v2/loyalty/program", first))

	var got []string
	for _, a := range ts.auditActions(t, ts.Demo.Program.ID) {
		if strings.HasPrefix(a, "api_key.") {
			got = append(got, a)
		}
	}
	for _, want := range []string{"api_key.generated:success", "api_key.rolled:success", "api_key.updated:success", "api_key.old_key_expired:success"} {
		if !slices.Contains(got, want) {
			t.Errorf("audit lacks %s: %v", want, got)
		}
	}
	if logs := ts.Logs.String(); strings.Contains(logs, first) || strings.Contains(logs, second) || strings.Contains(logs, third) {
		t.Fatal("a secret reached the server log")
	}
}

// onTop waits until the element the XPath names is what a click at its
// centre would hit: nothing (a toast, a closing dialog, a panel being
// swapped) lies over it. A click that lands on something else is lost and
// the step would wait for its result until the deadline.
func onTop(xpath string) chromedp.Action[chromedp.Void] {
	q, _ := json.Marshal(xpath)
	js := `(() => {
		const e = document.evaluate(` + string(q) + `, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
		if (!e) return false;
		e.scrollIntoView({block: 'nearest'});
		const r = e.getBoundingClientRect();
		if (!r.width || !r.height || document.getAnimations().length) return false;
		const hit = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
		return !!hit && e.contains(hit);
	})()`
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond)))
		return err
	})
}

// quiet waits until the page is at rest with no dialog open: htmx idle
// (settled; a panel swap landing after a menu opened would replace it,
// closed, and the item clicked next would never show).
func quiet() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if err := chromedp.Do(ctx, settled()); err != nil {
			return err
		}
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`!document.querySelector('dialog[open]')`, chromedp.WithPollingInterval(20*time.Millisecond)))
		return err
	})
}

// menuItem opens a key's action menu and chooses an item, each click only
// once the page is quiet and the target is what the click would hit.
func menuItem(keyName, item string) chromedp.Action[chromedp.Void] {
	summary := "//summary[@aria-label='Actions for " + keyName + "']"
	button := "//tr[.//summary[@aria-label='Actions for " + keyName + "']]//details[@open]//button[normalize-space()='" + item + "']"
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		return chromedp.Do(ctx, quiet(), onTop(summary), chromedp.Click(chromedp.Search(summary)), onTop(button), chromedp.Click(chromedp.Search(button)))
	})
}
