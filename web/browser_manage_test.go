package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// TestBrowserManagementKeyJourney drives General » Management keys as an
// admin would: create a key through the password dialog, copy its secret
// once (and read the clipboard back), find it working on the management
// API, revoke it in the confirmation dialog and find it refused; in light,
// dark and at 375 px wide.
func TestBrowserManagementKeyJourney(t *testing.T) {
	for _, tc := range []struct {
		name          string
		width, height int
		scheme        string
	}{
		{"light", 1280, 900, "light"},
		{"dark", 1280, 900, "dark"},
		{"375", 375, 812, "light"}, // emulated: a headless window is at least 500 px wide
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t))
			ctx := newBrowser(t, tc.width, tc.height)
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(tc.width), int64(tc.height)), colorScheme(tc.scheme), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
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
				t.Fatalf("set up the browser: %v", err)
			}
			// shot saves a screenshot after checking that nothing overflows
			// the viewport sideways (the page or an open dialog).
			shot := func(name string) {
				t.Helper()
				overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.max(document.documentElement.scrollWidth - window.innerWidth, ...[...document.querySelectorAll('dialog[open]')].map(d => d.scrollWidth - d.clientWidth))`))
				if err != nil || overflow > 0 {
					t.Fatalf("%s overflows horizontally by %d px (%v)", name, overflow, err)
				}
				screenshot(t, ctx, "manage-"+tc.name+"-"+name)
			}
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				runStep(t, ctx, step, actions...)
			}
			must("open the page from the nav",
				chromedp.Navigate(ts.URL+"/general/api-keys"),
				chromedp.Click(chromedp.Search("//nav[@aria-label='General']//a[normalize-space()='Management keys']")),
				chromedp.WaitVisible(chromedp.Search("//p[contains(text(), 'No management keys yet')]")),
			)
			shot("01-empty")
			must("Create management key asks for the password",
				chromedp.Click(xpathButton("Create management key")),
				chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open] #reauth-password")),
			)
			must("confirm the password: the form opens",
				chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
				settled(),
				chromedp.Click(xpathButton("Confirm")),
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #management-key-name")),
			)
			shot("02-create-dialog")
			must("create",
				chromedp.SendKeys(chromedp.CSS("#management-key-name"), "Deploy pipeline"),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//label[normalize-space()='Keys: read']/input")),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//label[normalize-space()='Keys: write']/input")),
				settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Create']")),
				chromedp.WaitVisible(chromedp.CSS("#new-management-key-secret")),
				chromedp.WaitVisible(chromedp.Search("//li[@data-management-key-row]//p[text()='Deploy pipeline']")),
			)
			shot("03-secret-once")
			secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('new-management-key-secret').textContent`))
			if err != nil || managementkeys.CheckFormat(secret) != nil {
				t.Fatalf("the dialog shows %q (%v), not a management key", secret, err)
			}
			must("copy it once",
				settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Copy new key']")),
				chromedp.WaitVisible(chromedp.Search("//p[contains(text(), 'Copied to the clipboard')]")),
			)
			clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
			if err != nil || clip != secret {
				t.Fatalf("clipboard holds %q (%v), want the new key", clip, err)
			}
			must("Done closes it: the secret is gone from the page",
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Done']")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
				chromedp.WaitNotPresent(chromedp.CSS("#new-management-key-secret")),
			)
			if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, secret) {
				t.Fatal("the secret is still in the page after Done")
			}
			must("a fresh load never shows it",
				chromedp.Reload(),
				chromedp.WaitVisible(chromedp.Search("//li[@data-management-key-row]//p[text()='Deploy pipeline']")),
			)
			if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, secret) {
				t.Fatal("the secret is in a fresh page load")
			}
			row, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('li[data-management-key-row]').innerText`))
			for _, want := range []string{"Keys: read, Keys: write", ts.Demo.Full.Email, "Last used\nNever", "Expires\n"} {
				if !strings.Contains(row, want) {
					t.Errorf("row %q lacks %q", row, want)
				}
			}
			shot("04-listed")
			if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(secret), ""); r.Status != http.StatusOK {
				t.Fatalf("the new management key is refused: %d %s", r.Status, r.Raw)
			}

			must("Revoke asks first",
				chromedp.Click(xpathButton("Revoke Deploy pipeline")),
				chromedp.WaitVisible(chromedp.Search("//dialog[@id='modal']//h2[contains(text(), 'Revoke “Deploy pipeline”?')]")),
				settled(),
			)
			shot("05-revoke-dialog")
			must("confirm Revoke",
				settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Revoke']")),
				chromedp.WaitVisible(chromedp.Search("//p[contains(text(), 'No management keys yet')]")),
				chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
			)
			shot("06-revoked")
			if r := apiCall(t, ts.URL, "GET", "/v2/manage/keys", bearer(secret), ""); r.Status != http.StatusUnauthorized {
				t.Fatalf("the revoked management key: %d, want 401", r.Status)
			}
			var got []string
			for _, a := range ts.auditActions(t, ts.Demo.Program.ID) {
				if strings.HasPrefix(a, "management_key.") || strings.HasPrefix(a, "reauth.") {
					got = append(got, a)
				}
			}
			want := []string{"reauth.succeeded:success", "management_key.created:success", "management_key.revoked:success"}
			if !slices.Equal(got, want) {
				t.Fatalf("audit\n got %v\nwant %v", got, want)
			}
			if strings.Contains(ts.Logs.String(), secret) {
				t.Fatal("the management key reached the server log")
			}
		})
	}
}
