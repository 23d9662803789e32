package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/routes"
)

// shownOnceLook is what TestBrowserSecretsShownOnceAlike reads from an
// open shown-once dialog: the parts every secret's dialog must share, and
// this dialog's own secret and title.
type shownOnceLook struct {
	Kind         string `json:"kind"`
	Title        string `json:"title"`
	Secret       string `json:"secret"`
	CopyText     string `json:"copyText"`
	Modal        bool   `json:"modal"`
	DoneFocused  bool   `json:"doneFocused"`
	LabelledBy   string `json:"labelledBy"`
	TitleClass   string `json:"titleClass"`
	Warning      string `json:"warning"`
	WarningClass string `json:"warningClass"`
	CodeClass    string `json:"codeClass"`
	CodeFont     string `json:"codeFont"`
	CopyClass    string `json:"copyClass"`
	DoneClass    string `json:"doneClass"`
	// The dialog over the page: its edge, its shadow and the backdrop.
	BorderWidth   string  `json:"borderWidth"`
	BoxShadow     string  `json:"boxShadow"`
	BackdropAlpha float64 `json:"backdropAlpha"`
}

// pattern is the part of the look the four dialogs share.
func (l shownOnceLook) pattern() [8]string {
	return [8]string{l.TitleClass, l.Warning, l.WarningClass, l.CodeClass, l.CodeFont, l.CopyClass, l.DoneClass, l.LabelledBy}
}

const readShownOnceJS = `(() => {
	const d = document.querySelector('dialog#modal[open]');
	const root = d.querySelector('[data-shown-once]');
	const code = root.querySelector('[data-shown-once-secret]');
	const copy = root.querySelector('[data-shown-once-copy]');
	const done = root.querySelector('[data-shown-once-done]');
	const warning = root.querySelector('[data-shown-once-warning]');
	const title = d.querySelector('#' + d.getAttribute('aria-labelledby'));
	const backdrop = getComputedStyle(d, '::backdrop').backgroundColor.match(/[\d.]+/g).map(Number);
	return JSON.stringify({
		kind: root.dataset.shownOnce,
		title: title.textContent.trim(),
		secret: code.textContent,
		copyText: copy.getAttribute('data-copy-text'),
		modal: d.matches(':modal'),
		doneFocused: document.activeElement === done,
		labelledBy: d.getAttribute('aria-labelledby'),
		titleClass: title.className,
		warning: warning.querySelector('p').textContent.trim(),
		warningClass: warning.className,
		codeClass: code.className,
		codeFont: getComputedStyle(code).fontFamily,
		copyClass: copy.className,
		doneClass: done.className,
		borderWidth: getComputedStyle(d).borderTopWidth,
		boxShadow: getComputedStyle(d).boxShadow,
		backdropAlpha: backdrop.length === 4 ? backdrop[3] : 1,
	});
})()`

// contrastJS gives the contrast ratio (WCAG 2) of an element's text
// against the background it is drawn on (its own, else its nearest
// ancestor's that is not transparent), and whether the text is the lighter.
const contrastJS = `((el) => {
	const rgba = (s) => { const v = s.match(/[\d.]+/g).map(Number); return v.length === 4 ? v : [...v, 1]; };
	const lum = ([r, g, b]) => { const c = [r, g, b].map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }); return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; };
	let bg = null;
	for (let e = el; e && !bg; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) bg = c; }
	bg = bg || [255, 255, 255, 1];
	const fg = rgba(getComputedStyle(el).color);
	const mixed = fg.slice(0, 3).map((x, i) => x * fg[3] + bg[i] * (1 - fg[3]));
	const [text, surface] = [lum(mixed), lum(bg)];
	const [a, b] = [text, surface].sort((x, y) => y - x);
	return JSON.stringify({ratio: (a + 0.05) / (b + 0.05), lightText: text > surface});
})`

// TestBrowserSecretsShownOnceAlike: a new API key, a management key, a
// webhook signing secret and a SCIM token are each shown once in the same
// dialog (same title form, warning, code box, Copy and Done, focus on
// Done), modal over a dimmed page; Copy puts the secret on the clipboard,
// Done closes the dialog and the secret leaves the page. At the 20-key
// limit the disabled Generate API Key button's text stays readable. At
// 1440 and 375 px, light and dark.
func TestBrowserSecretsShownOnceAlike(t *testing.T) {
	for _, tc := range []struct {
		width, height int
		scheme        string
	}{
		{1440, 900, "light"},
		{1440, 900, "dark"},
		{375, 812, "light"},
		{375, 812, "dark"},
	} {
		name := fmt.Sprintf("%d-%s", tc.width, tc.scheme)
		t.Run(name, func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback())
			seeded := seedKeys(t, ts, nineteenKeyNames()...)
			// A rolled key's row says until when its old key works.
			if _, err := ts.Store.Keys.Roll(t.Context(), ts.Demo.Program.ID, audit.Actor{}, seeded[0].ID, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			ctx := newBrowser(t, tc.width, tc.height)
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(tc.width), int64(tc.height)), colorScheme(tc.scheme), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				for _, perm := range []string{"clipboard-read", "clipboard-write"} {
					if _, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
						Permission: &browser.PermissionDescriptor{Name: perm, AllowWithoutSanitization: true},
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
			browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)
			must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				runStep(t, ctx, step, actions...)
			}
			// confirmPassword answers the password dialog when the action
			// asked for it (a grant spent by the previous secret).
			confirmPassword := func(step string) {
				t.Helper()
				must(step, chromedp.WaitVisible(chromedp.CSS("dialog#reauth-dialog[open], dialog#modal[open] [data-shown-once], dialog#modal[open] #management-key-name")))
				asked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.querySelector('dialog#reauth-dialog[open]')`))
				if err != nil {
					t.Fatal(err)
				}
				if asked {
					must(step+": confirm the password",
						chromedp.SendKeys(chromedp.CSS("#reauth-password"), modeltest.Password),
						settled(),
						chromedp.Click(xpathButton("Confirm")),
						chromedp.WaitNotPresent(chromedp.CSS("dialog#reauth-dialog[open]")),
					)
				}
			}
			var first shownOnceLook
			// check reads the open dialog, compares it with the first one,
			// copies the secret, presses Done and finds the secret gone.
			check := func(kind, prefix string) shownOnceLook {
				t.Helper()
				must(kind+": the dialog is open", chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] [data-shown-once] [data-shown-once-secret]")), settled())
				raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](readShownOnceJS))
				if err != nil {
					t.Fatalf("%s: read the dialog: %v", kind, err)
				}
				var look shownOnceLook
				if err := json.Unmarshal([]byte(raw), &look); err != nil {
					t.Fatal(err)
				}
				viewportScreenshot(t, ctx, "shown-once-"+name+"-"+strings.ReplaceAll(kind, " ", "-"))
				if look.Kind != kind || look.Title != "Copy your new "+kind+" now" {
					t.Errorf("%s: kind %q, title %q", kind, look.Kind, look.Title)
				}
				if !strings.HasPrefix(look.Secret, prefix) || look.CopyText != look.Secret {
					t.Errorf("%s: shows %q, Copy copies %q", kind, look.Secret, look.CopyText)
				}
				if !look.Modal || !look.DoneFocused {
					t.Errorf("%s: modal %v, focus on Done %v", kind, look.Modal, look.DoneFocused)
				}
				if !strings.Contains(look.CodeFont, "monospace") {
					t.Errorf("%s: the secret is set in %q", kind, look.CodeFont)
				}
				if tc.scheme == "dark" && (look.BorderWidth != "1px" || look.BoxShadow == "none" || look.BackdropAlpha < 0.6) {
					t.Errorf("%s in dark mode: border %s, shadow %q, backdrop alpha %.2f; want an edge, a shadow and a dim page", kind, look.BorderWidth, look.BoxShadow, look.BackdropAlpha)
				}
				if first.Kind == "" {
					first = look
				} else if look.pattern() != first.pattern() {
					t.Errorf("%s's dialog differs from %s's:\n got %q\nwant %q", kind, first.Kind, look.pattern(), first.pattern())
				}
				if loaded, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe !== 'undefined'`)); !loaded {
					must(kind+": load axe", chromedp.Evaluate[chromedp.Void](axeSource))
				}
				rawAxe, err := chromedp.Run(ctx, chromedp.Evaluate[string](axeRunJS, chromedp.EvalAwaitPromise))
				if err != nil {
					t.Fatalf("%s: axe: %v", kind, err)
				}
				var violations []axeViolation
				if err := json.Unmarshal([]byte(rawAxe), &violations); err != nil {
					t.Fatal(err)
				}
				for _, v := range violations {
					if v.Impact == "serious" || v.Impact == "critical" {
						t.Errorf("%s: axe %s %s (%s)\n    %s", kind, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n    "))
					}
				}
				overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Math.max(document.documentElement.scrollWidth - window.innerWidth, ...[...document.querySelectorAll('dialog[open]')].map(d => d.scrollWidth - d.clientWidth))`))
				if err != nil || overflow > 0 {
					t.Errorf("%s: overflows sideways by %d px (%v)", kind, overflow, err)
				}
				must(kind+": Copy",
					dismissToasts(),
					chromedp.Click(chromedp.CSS("dialog#modal[open] [data-shown-once-copy]")),
					chromedp.WaitVisible(chromedp.Search("//div[@data-toast='success']/p[text()='Copied to the clipboard.']")),
				)
				if clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil || clip != look.Secret {
					t.Errorf("%s: the clipboard holds %q (%v), want the secret", kind, clip, err)
				}
				must(kind+": Done closes the dialog",
					dismissToasts(),
					chromedp.Click(chromedp.CSS("dialog#modal[open] [data-shown-once-done]")),
					chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
					chromedp.WaitNotPresent(chromedp.CSS("[data-shown-once]")),
				)
				if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, look.Secret) {
					t.Errorf("%s: the secret is still in the page after Done", kind)
				}
				// What opened the dialog was replaced with the page's new
				// state (or nothing on the page opened it): focus goes to
				// the page's heading, not lost on the body.
				must(kind+": focus after Done", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
					_, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.activeElement === document.querySelector('main h1')`, chromedp.WithPollingInterval(20*time.Millisecond)))
					return err
				}))
				return look
			}

			// The 20th API key, generated in the console.
			must("Generate API Key",
				chromedp.Navigate(ts.URL+routes.APIKeys),
				chromedp.Click(xpathButton("Generate API Key")),
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #key-name")),
				chromedp.SendKeys(chromedp.CSS("#key-name"), "Checkout"),
				settled(),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Generate']")),
			)
			check("API key", "kd_")

			// At the limit Generate API Key is off, and its words legible.
			const generate = `document.querySelector('#keys-panel button.btn-primary[disabled]')`
			must("Generate API Key is off at 20 keys", chromedp.WaitVisible(chromedp.CSS("#keys-panel button.btn-primary[disabled]")), settled())
			viewportScreenshot(t, ctx, "shown-once-"+name+"-generate-at-limit")
			// 4.5:1, as for any text: WCAG exempts disabled controls, but
			// the label is what tells the admin which action is off.
			rawContrast, err := chromedp.Run(ctx, chromedp.Evaluate[string](contrastJS+`(`+generate+`)`))
			if err != nil {
				t.Fatal(err)
			}
			var contrast struct {
				Ratio     float64 `json:"ratio"`
				LightText bool    `json:"lightText"`
			}
			if err := json.Unmarshal([]byte(rawContrast), &contrast); err != nil {
				t.Fatal(err)
			}
			if contrast.Ratio < 4.5 {
				t.Errorf("the disabled Generate API Key button's text contrast is %.2f:1, want at least 4.5:1", contrast.Ratio)
			}
			// The row notes in amber (an old key's overlap, an expiry
			// soon) read at 4.5:1 too.
			rawContrast, err = chromedp.Run(ctx, chromedp.Evaluate[string](contrastJS+`(document.querySelector('#keys-panel [data-key-roll]'))`))
			if err != nil {
				t.Fatal(err)
			}
			var note struct {
				Ratio float64 `json:"ratio"`
			}
			if err := json.Unmarshal([]byte(rawContrast), &note); err != nil || note.Ratio < 4.5 {
				t.Errorf("the row's 'Old key works until' reads at %.2f:1 (%v), want at least 4.5:1", note.Ratio, err)
			}
			// In the dark scheme it is light text on a dark surface, not a
			// light button left over from the light scheme.
			if contrast.LightText != (tc.scheme == "dark") {
				t.Errorf("the disabled Generate API Key button has light text on a darker surface: %v, in the %s scheme", contrast.LightText, tc.scheme)
			}

			must("Create management key",
				chromedp.Navigate(ts.URL+routes.ManagementKeys),
				chromedp.Click(xpathButton("Create management key")),
			)
			confirmPassword("Create management key")
			must("create it",
				chromedp.WaitVisible(chromedp.CSS("dialog#modal[open] #management-key-name")),
				chromedp.SendKeys(chromedp.CSS("#management-key-name"), "Deploy pipeline"),
				chromedp.Click(chromedp.Search("//dialog[@id='modal']//label[normalize-space()='Keys: read']/input")),
				settled(),
			)
			viewportScreenshot(t, ctx, "shown-once-"+name+"-management-key-form")
			must("create it", chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Create']")))
			check("management key", "kdm_")

			// The webhook's secret arrives with a full page (Add endpoint
			// is a form post): the dialog opens over the endpoint's page,
			// whose address the browser then shows.
			must("Add endpoint",
				chromedp.Navigate(ts.URL+routes.Webhooks),
				chromedp.SendKeys(chromedp.Search("//label[normalize-space()='URL']/following-sibling::input"), "http://127.0.0.1:9/keydesk"),
				chromedp.Click(chromedp.CSS(`input[name=events][value="api_key.deleted"]`)),
				chromedp.ScrollIntoView(xpathButton("Add endpoint")),
			)
			viewportScreenshot(t, ctx, "shown-once-"+name+"-add-endpoint-form")
			must("Add endpoint", chromedp.Click(xpathButton("Add endpoint")))
			check("signing secret", "whsec_")
			if path, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); !strings.HasPrefix(path, routes.Webhooks+"/") {
				t.Errorf("after Add endpoint the address is %q, want the endpoint's page", path)
			}
			must("the endpoint's page is behind it", chromedp.WaitVisible(xpathButton("Send test event")))

			must("Create SCIM token",
				chromedp.Navigate(ts.URL+routes.SettingsSSO),
				chromedp.Click(xpathButton("Create SCIM token")),
			)
			confirmPassword("Create SCIM token")
			check("SCIM token", "kdscim_")
			must("the section says the token was made", chromedp.WaitVisible(chromedp.Search("//section[@id='scim-settings']//dd[starts-with(normalize-space(), 'Created')]")))
		})
	}
}

// viewportScreenshot saves what the window shows (a dialog as the admin
// sees it, not stretched over a long page) when KEYDESK_SCREENSHOTS names
// a directory.
func viewportScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("KEYDESK_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// nineteenKeyNames names the keys that bring a program one short of its
// 20-key limit.
func nineteenKeyNames() []string {
	names := make([]string, 19)
	for i := range names {
		names[i] = fmt.Sprintf("Integration %d", i+1)
	}
	return names
}
