package web_test

import (
	"context"
	"slices"
	"strconv"
	"testing"

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
		t.Run(itoa(width), func(t *testing.T) {
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
			screenshot(t, ctx, "polish-copy-after-password-"+itoa(width))
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

func itoa(n int) string { return strconv.Itoa(n) }

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
// the key with Copy API key focused; pressing it copies.
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
	runStep(t, ctx, "press Copy", slowNetwork(500), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[contains(text(), 'copied to the clipboard')]")))
	if clip := readClipboard(t, ctx, ts.URL); clip != secret {
		t.Fatalf("clipboard holds %q, want the full key", clip)
	}
}
