package web_test

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// TestBrowserPasskeyRemoveAsksFirst, at 1440 and 375 px (axe in light and
// dark on the dialog): Remove on a passkey opens a dialog over /account
// with focus inside; Escape and Cancel close it and the passkey stays,
// focus back on its Remove; Remove passkey removes it, the row goes and
// the notice says so. The last passkey's dialog warns that sign-in will
// then use the password only.
func TestBrowserPasskeyRemoveAsksFirst(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			admin := ts.Demo.Full
			ctx := newBrowser(t, width, 900)
			// Signed in first: with a passkey, sign-in would ask for it.
			browserLogin(t, ctx, ts.URL, admin.Email)
			storePasskey(t, ts, admin.ID, admin.Email, "Work laptop")
			storePasskey(t, ts, admin.ID, admin.Email, "Phone")

			phoneRow := "//li[@data-passkey-row][.//p[@data-passkey-name and text()='Phone']]"
			openRemove := func(step, name string) {
				t.Helper()
				runStep(t, ctx, step,
					chromedp.Click(chromedp.Search("//a[@aria-label='Remove passkey "+name+"']")),
					chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #passkey-remove-form")),
					settled(),
				)
				title, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('dialog#modal #modal-title').textContent`))
				if want := "Remove passkey “" + name + "”?"; err != nil || title != want {
					t.Fatalf("%s: dialog title %q (%v), want %q", step, title, err, want)
				}
				focusIs(t, ctx, step+": focus in the dialog", "Cancel")
				if inside, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('modal').contains(document.activeElement)`)); !inside {
					t.Fatalf("%s: focus is outside the dialog", step)
				}
			}
			focusBackOn := func(step, name string) {
				t.Helper()
				if !focusSettlesOn(ctx, `document.activeElement.getAttribute('aria-label') === 'Remove passkey `+name+`'`) {
					label, _ := chromedp.Run(ctx, chromedp.Evaluate[string](activeLabelJS))
					t.Errorf("%s: focus on %q, want back on Remove passkey %s", step, label, name)
				}
			}
			stillListed := func(step string) {
				t.Helper()
				if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-passkey-row]').length`)); n != 2 {
					t.Fatalf("%s: %d passkeys listed, want 2", step, n)
				}
				if list, err := ts.Store.Accounts.Passkeys(t.Context(), admin.ID); err != nil || len(list) != 2 {
					t.Fatalf("%s: passkeys %+v, %v; want both", step, list, err)
				}
			}

			runStep(t, ctx, "account",
				chromedp.Navigate(ts.URL+"/account"),
				chromedp.WaitVisible(chromedp.Search(phoneRow)),
				chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
			)
			openRemove("Remove opens a dialog", "Phone")
			if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
				t.Fatal("Remove left /account")
			}
			if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('dialog#modal [data-last-passkey]').length`)); n != 0 {
				t.Error("with another passkey left, the dialog warns about the last one")
			}
			if over := pageOverflow(t, ctx); over > 0 {
				t.Errorf("/account with the dialog at %d px is %d px wider than the viewport", width, over)
			}
			checkA11y(t, ctx, "passkey-remove-dialog", width)
			runStep(t, ctx, "Escape closes it",
				chromedp.KeyEvent(kb.Escape),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
			)
			focusBackOn("after Escape", "Phone")
			stillListed("after Escape")

			openRemove("Remove again", "Phone")
			runStep(t, ctx, "Cancel closes it",
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//a[normalize-space()='Cancel']")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
			)
			focusBackOn("after Cancel", "Phone")
			stillListed("after Cancel")
			if kept, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); !kept {
				t.Fatal("Cancel left /account")
			}

			openRemove("Remove a third time", "Phone")
			runStep(t, ctx, "Remove passkey removes it",
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Remove passkey']")),
				chromedp.WaitVisible(chromedp.Search("//p[@role='status' and text()='Passkey removed.']")),
				chromedp.WaitNotPresent(chromedp.Search(phoneRow)),
				chromedp.WaitVisible(chromedp.Search("//p[@data-passkey-name and text()='Work laptop']")),
			)
			list, err := ts.Store.Accounts.Passkeys(t.Context(), admin.ID)
			if err != nil || len(list) != 1 || list[0].Name != "Work laptop" {
				t.Fatalf("passkeys after Remove passkey = %+v, %v; want Work laptop alone", list, err)
			}
			events, err := ts.Store.Audit.List(t.Context(), ts.Demo.Program.ID, audit.Filter{Action: audit.ActionPasskeyRemoved}, audit.PageRequest{})
			if err != nil || len(events.Events) != 1 {
				t.Fatalf("passkey removed events = %+v, %v; want one", events, err)
			}

			openRemove("the last passkey", "Work laptop")
			warning, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('dialog#modal [data-last-passkey]') || {innerText: ''}).innerText`))
			if want := "It is your last passkey and you have no authenticator app: sign-in will then use your password only."; warning != want {
				t.Errorf("the last passkey's dialog says %q, want %q", warning, want)
			}
			screenshotSchemes(t, ctx, fmt.Sprintf("passkey-remove-%d-last", width))
			runStep(t, ctx, "Escape keeps the last one",
				chromedp.KeyEvent(kb.Escape),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
			)
			focusBackOn("after Escape on the last one", "Work laptop")
		})
	}
}
