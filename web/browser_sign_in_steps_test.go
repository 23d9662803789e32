package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// logoShownJS is whether the page's main area shows the keydesk mark with
// its name beside it, on screen.
const logoShownJS = `(() => {
	const mark = document.querySelector('main svg rect[fill="#4f46e5"]');
	if (!mark) return false;
	const box = mark.closest('svg').getBoundingClientRect();
	const name = [...document.querySelectorAll('main span')].find(s => s.textContent.trim() === 'keydesk');
	return box.width >= 24 && box.top >= 0 && box.bottom <= window.innerHeight && !!name && name.getBoundingClientRect().width > 0;
})()`

// TestBrowserSignInStepsShowTheLogo: the two-factor step of sign-in shows
// the logo and a way back to the sign-in page, which works; the invite
// page shows the logo. At 1440 and 375 px, light and dark, neither page
// scrolls sideways.
func TestBrowserSignInStepsShowTheLogo(t *testing.T) {
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
			ts := newTestServer(t, modeltest.SQLite(t))
			setUpTOTP(t, ts, ts.loggedIn(t, ts.Demo.Full.Email), time.Now())
			_, token, err := ts.Store.Accounts.Invite(t.Context(), audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}, ts.Demo.Program.ID, "invitee@example.test", "full", nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := newBrowser(t, tc.width, tc.height)
			must := func(step string, actions ...chromedp.Action[chromedp.Void]) {
				t.Helper()
				runStep(t, ctx, step, actions...)
			}
			must("set up", chromedp.EmulateViewport(int64(tc.width), int64(tc.height)), colorScheme(tc.scheme))
			looks := func(page string) {
				t.Helper()
				viewportScreenshot(t, ctx, "sign-in-steps-"+name+"-"+page)
				if shown, err := chromedp.Run(ctx, chromedp.Evaluate[bool](logoShownJS)); err != nil || !shown {
					t.Errorf("%s: the logo is not shown (%v)", page, err)
				}
				if overflow, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); err != nil || overflow > 0 {
					t.Errorf("%s: scrolls sideways by %d px (%v)", page, overflow, err)
				}
			}

			must("password first",
				chromedp.Navigate(ts.URL+"/login"),
				chromedp.WaitVisible(chromedp.CSS("#email")),
				chromedp.SendKeys(chromedp.CSS("#email"), ts.Demo.Full.Email),
				chromedp.SendKeys(chromedp.CSS("#password"), modeltest.Password),
				chromedp.Click(xpathButton("Sign in")),
				chromedp.WaitVisible(chromedp.Search("//h1[text()='Two-factor authentication']")),
			)
			looks("two-factor")
			must("Back to sign-in leads to the sign-in page",
				chromedp.Click(chromedp.Search("//a[normalize-space()='Back to sign-in']")),
				chromedp.WaitVisible(chromedp.CSS("#email")),
			)
			if path, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); path != "/login" {
				t.Errorf("Back to sign-in went to %q", path)
			}

			must("the invite page", chromedp.Navigate(ts.URL+"/invite/"+token), chromedp.WaitVisible(chromedp.CSS("main h1")))
			if h1, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main h1').textContent`)); !strings.Contains(h1, "Demo Store") {
				t.Errorf("the invite page's heading is %q", h1)
			}
			looks("invite")
		})
	}
}
