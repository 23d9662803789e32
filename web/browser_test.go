package web_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts headless Debian Chromium for one test. Without Chromium
// the test is skipped, saying why, except under CI=true, where it fails.
func newBrowser(t *testing.T, width, height int) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Chromium is required under CI=true: %v", err)
		}
		t.Skipf("browser test skipped: %s not found (apt-get install chromium)", chromiumPath)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
	})
	// The window size alone does not make a narrow page: headless Chromium
	// keeps windows at least 500 px wide, so a 375 px test would lay pages
	// out at 500 px. The viewport is emulated at exactly the size asked.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// screenshot saves a PNG when KEYDESK_SCREENSHOTS names a directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("KEYDESK_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runStep runs one step of a journey with its own deadline; on failure it
// reports what the page showed (toasts, open dialogs) to say why.
func runStep(t *testing.T, ctx context.Context, step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({toasts: [...document.querySelectorAll('#toasts p')].map(p => p.textContent), dialogs: [...document.querySelectorAll('dialog[open]')].map(d => d.innerText.slice(0, 200)), panel: (document.getElementById('keys-panel') || {innerText: ''}).innerText.slice(0, 400)})`))
		t.Fatalf("%s: %v\npage state: %s", step, err, state)
	}
}

// settled waits until no CSS animation runs (the dialogs' entrance), so a
// click lands where the button has come to rest, and until htmx is idle:
// no request in flight, whose answer would replace what the step is about
// to press. (Swapped-in content is wired in the swap's own task, see
// htmxConfig, so it never has to wait for that: TestBrowserPressRightAfterASwap.)
func settled() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getAnimations().length === 0 && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')`, chromedp.WithPollingInterval(20*time.Millisecond)))
		return err
	})
}

func xpathButton(label string) chromedp.Search {
	return chromedp.Search("//button[@aria-label='" + label + "' or normalize-space()='" + label + "']")
}

func browserLogin(t *testing.T, ctx context.Context, baseURL, email string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(baseURL+"/login"),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Email']")),
		chromedp.SendKeys(chromedp.CSS("#email"), email),
		chromedp.SendKeys(chromedp.CSS("#password"), modeltest.Password),
		chromedp.Click(xpathButton("Sign in")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
	)
	if err != nil {
		t.Fatalf("sign in as %s: %v", email, err)
	}
}

// TestBrowserAPIKeyJourney drives the API Keys screen as an admin would:
// generate, reveal through the password dialog, copy and read the clipboard
// back, hide, edit, inactivate, delete — and finds each action audited.
func TestBrowserAPIKeyJourney(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	ctx := newBrowser(t, 1280, 900)
	if _, err := chromedp.Run(ctx, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
				Setting:    browser.PermissionSettingGranted,
				Origin:     ts.URL,
			}); err != nil {
				return err
			}
		}
		return nil
	})); err != nil {
		t.Fatalf("grant clipboard: %v", err)
	}
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runStep(t, ctx, step, actions...)
	}
	must("empty state",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(chromedp.Search("//h3[text()='No API keys yet']")),
	)
	screenshot(t, ctx, "01-empty")

	must("open Generate dialog",
		chromedp.Click(xpathButton("Generate API Key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
	)
	screenshot(t, ctx, "02-generate-dialog")
	must("generate",
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Shopify sync"),
		chromedp.SendKeys(chromedp.CSS("#key-description"), "Order sync from the store"),
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
		// The new key is shown once (issue 12); Done closes the dialog.
		chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Copy new key']")),
		chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']")),
		chromedp.WaitVisible(chromedp.Search("//td//p[text()='Shopify sync']")),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Done']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
	)
	screenshot(t, ctx, "03-generated")
	key := keyByName(t, ts, ts.Demo.Program.ID, "Shopify sync")
	secret := secretOf(t, ts, key)

	must("reveal asks for the password",
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
	)
	screenshot(t, ctx, "04-password-dialog")
	must("confirm password",
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
		settled(),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
		chromedp.WaitVisible(xpathButton("Hide API key")),
	)
	screenshot(t, ctx, "05-revealed")

	must("copy", settled(), chromedp.Click(xpathButton("Copy API key")), chromedp.WaitVisible(chromedp.Search("//p[contains(text(), 'copied to the clipboard')]")))
	clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("read clipboard: %v", err)
	}
	if clip != secret {
		t.Fatalf("clipboard holds %q, want the full key", clip)
	}

	must("hide",
		chromedp.Click(xpathButton("Hide API key")),
		chromedp.WaitVisible(xpathButton("Show API key")),
		chromedp.WaitNotPresent(chromedp.Search("//code[text()='"+secret+"']")),
	)

	must("edit",
		menuItem("Shopify sync", "Edit"),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
	)
	screenshot(t, ctx, "06-edit-dialog")
	must("save edit",
		chromedp.Clear(chromedp.CSS("#key-name")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Shopify orders"),
		settled(),
		chromedp.Click(xpathButton("Save")),
		chromedp.WaitVisible(chromedp.Search("//td//p[text()='Shopify orders']")),
	)
	must("inactivate",
		menuItem("Shopify orders", "Inactivate"),
		chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Inactivate')]")),
	)
	screenshot(t, ctx, "07-inactivate-dialog")
	must("confirm inactivate",
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Inactivate']")),
		chromedp.WaitVisible(chromedp.Search("//tr[.//p[text()='Shopify orders']]/td[6]//span[normalize-space()='Inactive']")),
	)
	must("delete",
		menuItem("Shopify orders", "Delete"),
		chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Delete “Shopify orders”?')]")),
	)
	screenshot(t, ctx, "08-delete-dialog")
	must("confirm delete",
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Delete']")),
		chromedp.WaitVisible(chromedp.Search("//h3[text()='No API keys yet']")),
	)

	var got []string
	for _, a := range ts.auditActions(t, ts.Demo.Program.ID) {
		if strings.HasPrefix(a, "api_key.") || strings.HasPrefix(a, "reauth.") {
			got = append(got, a)
		}
	}
	want := []string{"api_key.generated:success", "reauth.succeeded:success", "api_key.revealed:success", "api_key.copied:success", "api_key.updated:success", "api_key.inactivated:success", "api_key.deleted:success"}
	if !slices.Equal(got, want) {
		t.Fatalf("audit\n got %v\nwant %v", got, want)
	}
	if logs := ts.Logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, modeltest.Password) {
		t.Fatal("a secret reached the server log")
	}
}

// TestBrowserKeyboardAndLimit checks the 20-key limit state, keyboard use of
// the dialogs (Escape closes and focus returns), and the narrow layout.
func TestBrowserKeyboardAndLimit(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	for i, name := range []string{"Shopify sync", "Mobile app", "Legacy ERP"} {
		k, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, keys.KeyInput{Name: name, Description: "Integration number " + string(rune('1'+i))})
		if err != nil {
			t.Fatal(err)
		}
		if name == "Legacy ERP" {
			ts.Store.Keys.SetActive(t.Context(), ts.Demo.Program.ID, audit.Actor{}, k.ID, false)
		}
	}
	ctx := newBrowser(t, 1280, 900)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		runStep(t, ctx, step, actions...)
	}
	must("list", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.Search("//td//p[text()='Legacy ERP']")))
	screenshot(t, ctx, "10-list")
	must("menu open", openMenu("Legacy ERP"), chromedp.WaitVisible(xpathButton("Delete")))
	screenshot(t, ctx, "11-menu")
	must("menu closes on Escape", chromedp.KeyEvent("\x1b"))
	open, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('details[open]').length`))
	if err != nil || open != 0 {
		t.Fatalf("menus open after Escape: %d %v", open, err)
	}

	// Keyboard: focus the Generate button, press Enter, type, Escape closes
	// the dialog and focus returns to the button.
	must("keyboard open",
		chromedp.Focus(xpathButton("Generate API Key")),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
	)
	active, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.id`))
	if err != nil || active != "key-name" {
		t.Fatalf("focus in dialog = %q, %v", active, err)
	}
	must("escape", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))
	label, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.textContent.trim()`))
	if err != nil || label != "Generate API Key" {
		t.Fatalf("focus after Escape = %q, %v", label, err)
	}
	// Validation error shown in the dialog.
	must("validation",
		chromedp.Click(xpathButton("Generate API Key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "Shopify sync"),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
		chromedp.WaitVisible(chromedp.CSS("#key-name-error")),
	)
	screenshot(t, ctx, "12-validation")
	must("close", chromedp.KeyEvent("\x1b"), chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")))

	// Fill up to the limit: the button is disabled with the reason.
	for i := 3; i < keys.MaxAPIKeysPerProgram; i++ {
		if _, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Integration " + string(rune('A'+i))}); err != nil {
			t.Fatal(err)
		}
	}
	must("limit", chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.CSS("#key-limit-reason")))
	disabled, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('#keys-panel button')].find(b => b.textContent.trim() === 'Generate API Key').disabled`))
	if err != nil || !disabled {
		t.Fatalf("Generate button at the limit: disabled=%v err=%v", disabled, err)
	}
	screenshot(t, ctx, "13-limit")

	must("settings", chromedp.Navigate(ts.URL+"/general/settings"), chromedp.WaitVisible(chromedp.Search("//h2[text()='Default API key']")))
	screenshot(t, ctx, "14-settings")

	must("audit trail", chromedp.Navigate(ts.URL+"/general/audit-trail"), chromedp.WaitVisible(chromedp.CSS("#audit-events details summary")), chromedp.Click(chromedp.CSS("#audit-events details summary")))
	screenshot(t, ctx, "16-audit-trail")

	// 375 px wide: no horizontal overflow of the page itself.
	must("mobile", chromedp.EmulateViewport(375, 812), chromedp.Navigate(ts.URL+"/general/api-keys"), chromedp.WaitVisible(chromedp.CSS("#keys-panel")))
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
	if err != nil || overflow > 0 {
		culprits, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className.toString().slice(0, 60) + ' ' + Math.round(e.getBoundingClientRect().right))`))
		t.Logf("wider than the viewport: %v", culprits)
		t.Fatalf("page overflows horizontally at 375 px by %d px: %v", overflow, err)
	}
	screenshot(t, ctx, "15-mobile")
	for _, page := range []string{"/general/audit-trail", "/general/settings"} {
		must("mobile "+page, chromedp.Navigate(ts.URL+page), chromedp.WaitVisible(chromedp.CSS("main h1")))
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
		if err != nil || overflow > 0 {
			t.Fatalf("%s overflows horizontally at 375 px by %d px: %v", page, overflow, err)
		}
		screenshot(t, ctx, "17-mobile"+strings.ReplaceAll(page, "/", "-"))
	}
}

// TestBrowserSignInAndRefusals: a wrong password shows the generic message;
// a limited admin without modules lands on the no-access page, sees no
// section in the navigation, and gets the access-denied page for API Keys.
func TestBrowserSignInAndRefusals(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	ctx := newBrowser(t, 1280, 800)
	runStep(t, ctx, "wrong password",
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), ts.Demo.Limited.Email),
		chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
		chromedp.Click(xpathButton("Sign in")),
		chromedp.WaitVisible(chromedp.Search("//p[@role='alert' and contains(text(), 'Email or password is incorrect.')]")),
	)
	screenshot(t, ctx, "20-login-error")
	browserLogin(t, ctx, ts.URL, ts.Demo.Limited.Email)
	runStep(t, ctx, "no access", chromedp.WaitVisible(chromedp.Search("//h1[text()='No sections available']")))
	// (Your account joins the strip only on narrow screens.)
	links, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('nav[aria-label=General] a')].filter(a => a.getClientRects().length > 0).length`))
	if err != nil || links != 0 {
		t.Fatalf("a limited admin without modules sees %d navigation entries (%v)", links, err)
	}
	screenshot(t, ctx, "21-no-access")
	runStep(t, ctx, "API Keys refused",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.WaitVisible(chromedp.Search("//h1[text()='Access denied']")),
	)
	screenshot(t, ctx, "22-forbidden")
}

// TestBrowserRevealedKeyMasksItself reveals a key, then lets five minutes of
// the page's (virtual) time pass: the key is masked again without a click.
func TestBrowserRevealedKeyMasksItself(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	key, err := ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Shopify sync"})
	if err != nil {
		t.Fatal(err)
	}
	secret := secretOf(t, ts, *key)
	ctx := newBrowser(t, 1280, 800)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
	runStep(t, ctx, "reveal",
		chromedp.Navigate(ts.URL+"/general/api-keys"),
		chromedp.Click(xpathButton("Show API key")),
		chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
		chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
		settled(),
		chromedp.Click(xpathButton("Confirm")),
		chromedp.WaitVisible(chromedp.Search("//code[text()='"+secret+"']")),
	)
	// Virtual time runs the page's timers without waiting five real minutes.
	advance := func(ms float64) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		setPolicy := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetVirtualTimePolicy, emulation.SetVirtualTimePolicyParams{Policy: emulation.VirtualTimePolicyAdvance, Budget: &ms})
			return err
		})
		if _, err := chromedp.Run(stepCtx, chromedp.WaitEvent(emulation.VirtualTimeBudgetExpired, nil, setPolicy)); err != nil {
			t.Fatalf("advance virtual time by %.0f ms: %v", ms, err)
		}
	}
	advance(4 * 60 * 1000)
	if shown, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.innerText.includes(`+"`"+secret+"`"+`)`)); !shown {
		t.Fatal("the key was masked before five minutes")
	}
	advance(61 * 1000)
	if shown, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body.innerText.includes(`+"`"+secret+"`"+`)`)); shown {
		t.Fatal("the revealed key is still shown after five minutes")
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("[aria-label='Show API key']").length`)); n != 1 {
		t.Fatalf("masked cell lacks its Show button (%d)", n)
	}
}
