package web_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keydesk/models/modeltest"
)

// rightAfterSwap arms the page once: at the first htmx swap after which
// ready (a CSS selector) matches, act runs in the very next task, the
// earliest moment a click or key press (a quick person's, or a password
// manager's Enter) can reach the page. Whatever act presses must be live by
// then; a dialog that is shown but not yet wired submits natively or
// ignores the press.
func rightAfterSwap(ready, act string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`(() => {
		const events = ['htmx:afterSwap', 'htmx:oobAfterSwap'];
		const check = () => {
			if (!document.querySelector(` + strconv.Quote(ready) + `)) return;
			events.forEach(e => document.removeEventListener(e, check, true));
			setTimeout(() => { ` + act + ` }, 0);
		};
		events.forEach(e => document.addEventListener(e, check, true));
	})()`)
}

// pageOutcome waits for script to give a non-empty answer, across a page
// load (a form submitted natively navigates away).
func pageOutcome(t *testing.T, ctx context.Context, step, script string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evalCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err := chromedp.Run(evalCtx, chromedp.Evaluate[string](script))
		cancel()
		if err == nil && got != "" {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no outcome within 20 s", step)
	return ""
}

// TestBrowserPressRightAfterASwap: a dialog, a re-rendered form or a row
// that htmx has just swapped in works for a press that comes at once:
// Generate pressed the moment the dialog shows reports the duplicate name
// (it used to submit natively, a GET of the page with the form's fields in
// the address), Confirm pressed the moment a wrong password's error shows
// reveals the key (it used to put the password into the address bar), and
// Show API key pressed the moment a new key's row appears asks for the
// password (it used to be ignored). Swapped content was wired only when
// htmx settled it, 20 ms later on a quiet machine, and much later on a busy
// one: the cause of the browser journeys failing now and then.
func TestBrowserPressRightAfterASwap(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync")
	secret := secretOf(t, ts, keyByName(t, ts, ts.Demo.Program.ID, "Shopify sync"))
	ctx := newBrowser(t, 1280, 900)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//td//p[text()='Shopify sync']")))

	// Generate at once with a name already in use.
	runStep(t, ctx, "generate at once",
		rightAfterSwap("#modal form #key-name", `
			document.getElementById('key-name').value = 'Shopify sync';
			document.querySelector('#modal form button[type=submit]').click();`),
		chromedp.Click(xpathButton("Generate API Key")),
	)
	got := pageOutcome(t, ctx, "generate at once", `location.search ? 'the page went to ' + location.search : (document.getElementById('key-name-error') ? 'error' : '')`)
	if got != "error" {
		t.Fatalf("Generate pressed as the dialog showed: %s, want the duplicate-name error in the dialog", got)
	}
	runStep(t, ctx, "close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))

	// Confirm at once after a wrong password.
	runStep(t, ctx, "wrong password",
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), "not the password"),
		settled(),
		rightAfterSwap("#reauth-form #reauth-error", `
			document.getElementById('reauth-password').value = `+strconv.Quote(modeltest.Password)+`;
			document.querySelector('#reauth-form button[type=submit]').click();`),
		chromedp.Click(xpathButton("Confirm")),
	)
	got = pageOutcome(t, ctx, "confirm at once", `location.search ? 'the page went to ' + location.search : (document.body.innerText.includes(`+strconv.Quote(secret)+`) ? 'revealed' : '')`)
	if got != "revealed" {
		t.Fatalf("Confirm pressed as the password error showed: %s, want the key revealed", got)
	}
	runStep(t, ctx, "hide", chromedp.Click(xpathButton("Hide API key")), chromedp.WaitNotPresent(chromedp.Search("//code[text()='"+secret+"']")))

	// Show API key on a new key's row at once (the password was confirmed
	// above, so within the window it reveals straight away).
	mobileRow := `[...document.querySelectorAll('#keys-panel tbody tr')].find(r => r.querySelector('p')?.textContent === 'Mobile app')`
	runStep(t, ctx, "generate",
		chromedp.Click(xpathButton("Generate API Key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Mobile app"),
		settled(),
		rightAfterSwap("#modal [data-new-key]", `
			document.querySelector('#modal [data-close-dialog]').click();
			`+mobileRow+`.querySelector("button[aria-label='Show API key']").click();`),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
	)
	got = pageOutcome(t, ctx, "show at once", `(`+mobileRow+`)?.querySelector('[data-revealed]') ? 'revealed' : ''`)
	if got != "revealed" {
		t.Fatalf("Show API key pressed as the new row appeared: %s, want the key revealed", got)
	}
}
