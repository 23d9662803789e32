package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
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
	"keydesk/models/modeltest"
)

// TestBrowserAuditTrail opens the audit trail as support staff in a real
// browser: times move to the browser's zone, a filter by API key narrows the
// list, a row expands to its details, the CSV downloads with the same
// filter, and Verify integrity answers inline.
func TestBrowserAuditTrail(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	auditSeedKeys(t, ts)
	ctx := newBrowser(t, 1280, 900)
	downloads := t.TempDir()
	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}

	step("browser settings", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"}); err != nil {
			return err
		}
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
		})
		return err
	}))
	step("sign in as support staff",
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.WaitVisible(chromedp.Search("//label[text()='Email']")),
		chromedp.SendKeys(chromedp.Search("//input[@id=//label[text()='Email']/@for]"), ts.Demo.Support.Email),
		chromedp.SendKeys(chromedp.Search("//input[@id=//label[text()='Password']/@for]"), modeltest.Password),
		chromedp.Click(chromedp.Search("//button[normalize-space()='Sign in']")),
		chromedp.WaitVisible(chromedp.CSS("nav[aria-label=General]")),
	)
	step("open the audit trail",
		chromedp.Navigate(ts.URL+"/general/audit-trail"),
		chromedp.WaitVisible(chromedp.CSS("#audit-events")),
		chromedp.WaitVisible(chromedp.Search("//span[@data-audit-tz-name][text()='Asia/Tokyo']")),
	)
	screenshot(t, ctx, "audit-01-page")
	if got := eval(`document.querySelector('time[data-audit-time]').textContent`); strings.HasSuffix(got, " UTC") || got == "" {
		t.Fatalf("time not shown in the browser's zone: %q", got)
	}
	if got := eval(`document.querySelector('time[data-audit-time]').title`); !strings.HasSuffix(got, "UTC") {
		t.Fatalf("UTC not on hover: %q", got)
	}
	if got := eval(`document.querySelector('[data-audit-utc-hint]').hidden ? 'hidden' : 'shown'`); got != "shown" {
		t.Fatalf("in Asia/Tokyo the hint to hover for UTC is %s", got)
	}
	// A browser in UTC shows the times in UTC already: no hint to hover for it.
	step("the same page in UTC", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "UTC"})
		return err
	}),
		chromedp.Navigate(ts.URL+"/general/audit-trail"),
		chromedp.WaitVisible(chromedp.Search("//span[@data-audit-tz-name][text()='UTC']")),
	)
	if got := eval(`document.querySelector('[data-audit-utc-hint]').hidden ? 'hidden' : 'shown'`); got != "hidden" {
		t.Fatalf("in UTC the hint to hover for UTC is %s", got)
	}
	step("back to Asia/Tokyo", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	}),
		chromedp.Navigate(ts.URL+"/general/audit-trail"),
		chromedp.WaitVisible(chromedp.Search("//span[@data-audit-tz-name][text()='Asia/Tokyo']")),
	)

	step("filter by API key",
		chromedp.SendKeys(chromedp.Search("//input[@id=//label[text()='API key']/@for]"), "Legacy ERP"),
		chromedp.Click(chromedp.Search("//button[normalize-space()='Apply filters']")),
		// Wait for the filtered page itself: the unfiltered page also lists
		// the inactivation, and would satisfy the wait before navigating.
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
				// Evaluating while the page navigates fails: try again.
				if done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.search.includes('key=Legacy') && document.readyState === 'complete'`)); err == nil && done {
					return nil
				}
			}
			return errors.New("the filtered page did not load")
		}),
		chromedp.WaitVisible(chromedp.CSS("#audit-events > li[data-action='api_key.inactivated']")),
	)
	if got := eval(`Array.from(document.querySelectorAll('#audit-events > li')).map(li => li.dataset.action).join(',')`); got != "api_key.inactivated,api_key.generated" {
		t.Fatalf("rows after the key filter: %s", got)
	}
	if got := eval(`location.search`); !strings.Contains(got, "key=Legacy+ERP") {
		t.Fatalf("filter not in the URL: %s", got)
	}

	step("expand a row",
		chromedp.Click(chromedp.CSS("#audit-events > li:first-child summary")),
		chromedp.WaitVisible(chromedp.CSS("#audit-events > li:first-child [data-audit-details]")),
	)
	screenshot(t, ctx, "audit-02-expanded")
	details := eval(`document.querySelector('#audit-events > li:first-child [data-audit-details]').innerText`)
	for _, want := range []string{"203.0.113.9", "AuditTest/1.0", "req-audit-1"} {
		if !strings.Contains(details, want) {
			t.Fatalf("expanded row lacks %q:\n%s", want, details)
		}
	}
	if eval(`String(document.querySelector('#audit-events > li:nth-child(2) details').open)`) != "false" {
		t.Fatal("expanding one row opened another")
	}

	step("download the CSV", chromedp.Click(chromedp.Search("//a[normalize-space()='Download CSV']")))
	name := fmt.Sprintf("audit-trail-%s-%s.csv", ts.Demo.Program.PartnerID, time.Now().UTC().Format("2006-01-02"))
	var data []byte
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(downloads, name))
		if err == nil && len(b) > 0 {
			data = b
			break
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(downloads)
			t.Fatalf("%s not downloaded (directory holds %v)", name, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
	records, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	actionCol := slices.Index(audit.CSVHeader, "action")
	var actions []string
	for _, r := range records[1:] {
		actions = append(actions, r[actionCol])
	}
	if !slices.Equal(records[0], audit.CSVHeader) || !slices.Equal(actions, []string{"api_key.generated", "api_key.inactivated"}) { // chain order, as JSON Lines
		t.Fatalf("downloaded CSV: %q", records)
	}
	audited := ts.auditActions(t, ts.Demo.Program.ID)
	if !slices.Contains(audited, "audit.downloaded:success") {
		t.Fatalf("download not audited: %v", audited)
	}

	// Scroll back up: the sticky header would otherwise cover the button.
	eval(`window.scrollTo(0, 0); ""`)
	step("verify integrity",
		chromedp.Click(chromedp.Search("//button[normalize-space()='Verify integrity']")),
		chromedp.WaitVisible(chromedp.CSS("#audit-verify-result [data-audit-verify='intact']")),
	)
	screenshot(t, ctx, "audit-03-verified")
	if got := eval(`document.querySelector('#audit-verify-result').innerText`); !strings.Contains(got, "Chain intact:") || !strings.Contains(got, "events verified") {
		t.Fatalf("verify result: %q", got)
	}
}
