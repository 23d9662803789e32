package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// screenshotSchemes saves the page as it is in light and in dark.
func screenshotSchemes(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		runStep(t, ctx, "scheme "+scheme, colorScheme(scheme), settled())
		screenshot(t, ctx, name+"-"+scheme)
	}
	runStep(t, ctx, "back to light", colorScheme("light"))
}

// TestBrowserAccountPolish (issue 28 items 5 and 10), at 1440 and 375 px,
// screenshots in light and dark: a passkey added on /account signs in by
// itself (no switch); it is renamed in a dialog; Regenerate recovery codes
// asks for the step-up (Use passkey), then shows ten new codes with Copy,
// Download and Print; the sessions list names the browser and address;
// removing yourself warns that it is you. No page scrolls sideways.
func TestBrowserAccountPolish(t *testing.T) {
	for _, width := range []int{1440, 375} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t), withListenerBaseURL("localhost"))
			base := localhostURL(t, ts)
			ctx := newBrowser(t, width, 900)
			// Headless Chromium keeps a window at least 500 px wide: the
			// viewport is set exactly.
			runStep(t, ctx, "open", chromedp.EmulateViewport(int64(width), 900), chromedp.Navigate(base+"/login"))
			addVirtualAuthenticator(t, ctx)
			browserLogin(t, ctx, base, ts.Demo.Full.Email)
			shot := func(name string) { screenshotSchemes(t, ctx, fmt.Sprintf("account-%d-%s", width, name)) }
			noSideways := func(page string) {
				t.Helper()
				if over := pageOverflow(t, ctx); over > 0 {
					t.Errorf("%s at %d px is %d px wider than the viewport", page, width, over)
				}
			}

			runStep(t, ctx, "add a passkey",
				chromedp.Navigate(base+"/account"),
				chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Work laptop"),
				chromedp.SendKeys(chromedp.CSS("#passkey-password"), modeltest.Password),
				chromedp.Click(xpathButton("Add passkey")),
				chromedp.WaitVisible(chromedp.Search("//p[@data-passkey-name and text()='Work laptop']")),
			)
			if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#passkeys input[type=password]').length`)); n != 1 {
				t.Errorf("the passkey card has %d password fields, want 1", n)
			}
			if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`)); w != width {
				t.Fatalf("viewport is %d px wide, want %d", w, width)
			}
			noSideways("/account")
			shot("01-passkeys")

			signOut(t, ctx)
			runStep(t, ctx, "sign in with the passkey alone",
				chromedp.Click(xpathButton("Sign in with a passkey")),
				chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
			)

			runStep(t, ctx, "rename in a dialog",
				chromedp.Navigate(base+"/account"),
				chromedp.Click(chromedp.Search("//a[@aria-label='Rename passkey Work laptop']")),
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #passkey-rename-name")),
				settled(),
			)
			focused, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
			if focused != "passkey-rename-name" {
				t.Errorf("the rename dialog focuses %q, want the name field", focused)
			}
			shot("02-rename-dialog")
			runStep(t, ctx, "save the new name",
				chromedp.Evaluate[chromedp.Void](`document.getElementById('passkey-rename-name').value = ''`),
				chromedp.SendKeys(chromedp.CSS("#passkey-rename-name"), "Desk key"),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[text()='Save']")),
				chromedp.WaitVisible(chromedp.Search("//p[@role='status' and text()='Passkey renamed.']")),
				chromedp.WaitVisible(chromedp.Search("//p[@data-passkey-name and text()='Desk key']")),
			)

			// An authenticator app, set up beside the passkey.
			key, err := accounts.NewTOTPKey(ts.Demo.Full.Email)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := totp.GenerateCode(key.Secret(), time.Now())
			old, err := ts.Store.Accounts.EnableTOTP(t.Context(), ts.Demo.Program.ID, audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, key.Secret(), code)
			if err != nil {
				t.Fatal(err)
			}
			runStep(t, ctx, "regenerate asks for the step-up",
				chromedp.Navigate(base+"/account"),
				chromedp.WaitVisible(chromedp.Search("//span[@data-recovery-left and text()='10 recovery codes left.']")),
				chromedp.Click(xpathButton("Regenerate recovery codes")),
				chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open]")),
				settled(),
			)
			shot("03-regenerate-step-up")
			runStep(t, ctx, "Use passkey shows the new codes",
				chromedp.Click(xpathButton("Use passkey")),
				chromedp.WaitVisible(chromedp.CSS("#recovery-codes")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#reauth-dialog[open]")),
				settled(),
			)
			codes, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#recovery-codes li')].map(li => li.textContent.trim())`))
			if err != nil || len(codes) != 10 {
				t.Fatalf("%d recovery codes shown (%v), want 10", len(codes), err)
			}
			for _, c := range codes {
				if strings.Contains(strings.Join(old, " "), c) {
					t.Fatalf("new code %s is an old one", c)
				}
			}
			noSideways("/account with the new codes")
			shot("04-new-codes")

			runStep(t, ctx, "Copy", chromedp.Click(xpathButton("Copy")), chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[text()='Copied to the clipboard.']")))
			if clip := readClipboard(t, ctx, base); !strings.Contains(clip, strings.Join(codes, "\n")) || !strings.Contains(clip, ts.Demo.Full.Email) {
				t.Errorf("clipboard after Copy = %q, want the codes one a line", clip)
			}
			download, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const a = [...document.querySelectorAll('[data-recovery-actions] a')].find(a => a.textContent.trim() === 'Download'); return a ? a.getAttribute('download') + ' ' + decodeURIComponent(a.getAttribute('href')) : '' })()`))
			if !strings.HasPrefix(download, "keydesk-recovery-codes.txt data:text/plain") || !strings.Contains(download, strings.Join(codes, "\n")) {
				t.Errorf("Download = %q, want a text file of the codes", download)
			}
			runStep(t, ctx, "Print opens the print dialog",
				chromedp.Evaluate[chromedp.Void](`window.print = () => { document.body.setAttribute('data-printed', '') }`),
				chromedp.Click(xpathButton("Print")),
				chromedp.WaitReady(chromedp.CSS("body[data-printed]")),
			)
			if events, err := ts.Store.Audit.List(t.Context(), ts.Demo.Program.ID, audit.Filter{Action: audit.ActionRecoveryCodesRegenerated}, audit.PageRequest{}); err != nil || len(events.Events) != 1 {
				t.Errorf("regenerate events = %+v, %v; want one", events, err)
			}

			runStep(t, ctx, "sessions name browser and address",
				chromedp.Navigate(base+"/account"),
				chromedp.ScrollIntoView(chromedp.CSS("#sessions-heading")),
				chromedp.WaitVisible(chromedp.Search("//li[@data-session]//span[@data-session-browser and text()='Chrome on Linux']")),
				chromedp.WaitVisible(chromedp.Search("//li[@data-session]//span[@data-session-address and text()='127.0.0.1']")),
			)
			shot("05-sessions")

			runStep(t, ctx, "removing yourself warns that it is you",
				chromedp.Navigate(base+"/general/admins"),
				chromedp.Click(chromedp.Search(fmt.Sprintf("//a[@href='/general/admins/%d/remove']", ts.Demo.Full.ID))),
				chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//p[@data-removing-self]/strong[text()='This is you: you will be signed out.']")),
				settled(),
			)
			noSideways("/general/admins")
			shot("06-remove-yourself")
		})
	}
}
