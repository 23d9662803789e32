package web_test

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

const auditTrailURL = "/general/audit-trail"

// auditRows reads the event rows of an audit trail page.
func auditRows(t *testing.T, body string) (doc *goquery.Document, actions []string, targets []string) {
	t.Helper()
	doc = parseHTML(t, body)
	doc.Find("#audit-events > li").Each(func(_ int, s *goquery.Selection) {
		a, _ := s.Attr("data-action")
		actions = append(actions, a)
		targets = append(targets, strings.TrimSpace(s.Find("summary > span").Eq(3).Find("span").First().Text()))
	})
	return doc, actions, targets
}

// auditGet fetches an audit trail page and fails unless it is a 200.
func auditGet(t *testing.T, c *client, query url.Values) (*goquery.Document, []string, []string) {
	t.Helper()
	path := auditTrailURL
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	resp, body := c.get(path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d\n%s", path, resp.StatusCode, body)
	}
	return auditRows(t, body)
}

// auditSeedKeys gives the Demo program two keys with a history, and the
// Other program a key of the same name.
func auditSeedKeys(t *testing.T, ts *testServer) (shop, erp *keys.APIKey) {
	t.Helper()
	full := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email, IP: "203.0.113.9", UserAgent: "AuditTest/1.0", RequestID: "req-audit-1"}
	var err error
	if shop, err = ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, full, keys.KeyInput{Name: "Shopify sync"}); err != nil {
		t.Fatal(err)
	}
	if erp, err = ts.Store.Keys.Generate(t.Context(), ts.Demo.Program.ID, full, keys.KeyInput{Name: "Legacy ERP"}); err != nil {
		t.Fatal(err)
	}
	if _, err = ts.Store.Keys.Update(t.Context(), ts.Demo.Program.ID, full, shop.ID, keys.KeyInput{Name: "Shopify sync", Description: "Orders, <b>refunds</b> & =SUM(1)"}); err != nil {
		t.Fatal(err)
	}
	if _, err = ts.Store.Keys.SetActive(t.Context(), ts.Demo.Program.ID, full, erp.ID, false); err != nil {
		t.Fatal(err)
	}
	other := audit.Actor{AdminID: ts.Other.Full.ID, Email: ts.Other.Full.Email}
	if _, err = ts.Store.Keys.Generate(t.Context(), ts.Other.Program.ID, other, keys.KeyInput{Name: "Shopify sync"}); err != nil {
		t.Fatal(err)
	}
	if _, err = ts.Store.Keys.Generate(t.Context(), ts.Other.Program.ID, other, keys.KeyInput{Name: "Foreign secret integration"}); err != nil {
		t.Fatal(err)
	}
	return shop, erp
}

func TestAuditTrailAccess(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		anon := ts.newClient(t)
		resp, _ := anon.get(auditTrailURL)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("anonymous: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, _ = anon.get(auditTrailURL + "/download")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("anonymous download: %d", resp.StatusCode)
		}

		limited := ts.loggedIn(t, ts.Demo.Limited.Email)
		for _, r := range []struct{ method, path string }{{"GET", auditTrailURL}, {"GET", auditTrailURL + "/download"}, {"POST", auditTrailURL + "/verify"}} {
			var resp *http.Response
			if r.method == "GET" {
				resp, _ = limited.get(r.path)
			} else {
				resp, _ = limited.htmx(r.method, r.path, nil)
			}
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("limited admin without the module: %s %s → %d", r.method, r.path, resp.StatusCode)
			}
		}
		_, body := limited.get("/general/no-access")
		if strings.Contains(body, `href="/general/audit-trail"`) {
			t.Fatal("the nav offers the audit trail to an admin without the module")
		}

		for _, email := range []string{ts.Demo.Full.Email, ts.Demo.Support.Email} {
			c := ts.loggedIn(t, email)
			resp, body := c.get(auditTrailURL)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %d", email, resp.StatusCode)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("page Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			doc := parseHTML(t, body)
			if doc.Find(`nav a[aria-current="page"]`).Text() != "Audit Trail" {
				t.Fatal("Audit Trail is not the current nav entry")
			}
			if doc.Find(`script[src="/static/js/audit-time.js"]`).Length() != 1 {
				t.Fatal("audit-time.js not included")
			}
			if strings.Contains(body, " style=") || strings.Contains(body, "onclick") || strings.Contains(body, "<script>") {
				t.Fatal("inline style or script on the page (CSP forbids it)")
			}
		}
		// POST verify needs the CSRF token.
		support := ts.loggedIn(t, ts.Demo.Support.Email)
		resp, _ = support.do(http.MethodPost, auditTrailURL+"/verify", url.Values{}, map[string]string{"HX-Request": "true"})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("verify without CSRF: %d", resp.StatusCode)
		}
		// The script is served.
		resp, js := support.get("/static/js/audit-time.js")
		if resp.StatusCode != http.StatusOK || !strings.Contains(js, "data-audit-time") {
			t.Fatalf("audit-time.js: %d", resp.StatusCode)
		}
	})
}

func TestAuditTrailPageFiltersAndIsolation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		shop, erp := auditSeedKeys(t, ts)
		c := ts.loggedIn(t, ts.Demo.Support.Email)

		doc, actions, targets := auditGet(t, c, nil)
		if len(actions) == 0 || actions[0] != audit.ActionSignIn {
			t.Fatalf("newest event is not the support admin's sign-in: %v", actions)
		}
		page := doc.Text()
		for _, foreign := range []string{"Foreign secret integration", ts.Other.Full.Email, "Other Store"} {
			if strings.Contains(page, foreign) {
				t.Fatalf("the Demo page shows another program's %q", foreign)
			}
		}
		if doc.Find(`select[name=period] option[selected]`).AttrOr("value", "") != audit.DefaultPeriod {
			t.Fatal("default period not selected")
		}
		if !slices.Contains(targets, "Shopify sync") {
			t.Fatalf("targets %v", targets)
		}
		// Each row expands to its details: the edit shows before and after,
		// the request's IP, user agent and request id.
		edit := doc.Find(`#audit-events > li[data-action="api_key.updated"]`)
		if edit.Length() != 1 || edit.Find("details > summary").Length() != 1 {
			t.Fatal("the edit event is not an expandable row")
		}
		details := edit.Find("[data-audit-details]")
		row := details.Find("tbody tr").FilterFunction(func(_ int, s *goquery.Selection) bool { return s.Find("th").Text() == "Description" })
		if row.Find("del").Text() != "(empty)" || row.Find("ins").Text() != "Orders, <b>refunds</b> & =SUM(1)" {
			t.Fatalf("before/after: %q → %q", row.Find("del").Text(), row.Find("ins").Text())
		}
		for _, want := range []string{"203.0.113.9", "AuditTest/1.0", "req-audit-1", shop.Identifier} {
			if !strings.Contains(details.Text(), want) {
				t.Fatalf("details lack %q: %s", want, details.Text())
			}
		}
		// Every field reads in words (issue 28 item 12): no field name of
		// the stored details is shown as a label.
		details.Find("tbody th, dt").Each(func(_ int, s *goquery.Selection) {
			if l := s.Text(); strings.Contains(l, "_") || l == "last4" || l != strings.TrimSpace(l) || strings.ToLower(l[:1]) == l[:1] {
				t.Fatalf("label %q is not in words", l)
			}
		})
		// The Action list is grouped, the groups and their actions sorted.
		var groups []string
		doc.Find(`select[name=action] optgroup`).Each(func(_ int, g *goquery.Selection) {
			groups = append(groups, g.AttrOr("label", ""))
			var labels []string
			g.Find("option").Each(func(_ int, o *goquery.Selection) { labels = append(labels, strings.ToLower(o.Text())) })
			if len(labels) == 0 || !slices.IsSorted(labels) {
				t.Fatalf("actions of %q: %v", groups[len(groups)-1], labels)
			}
		})
		if len(groups) < 5 || !slices.Contains(groups, "API keys") || doc.Find(`select[name=action] > option`).Length() != 1 {
			t.Fatalf("action groups %v", groups)
		}
		tm := edit.Find("time[data-audit-time]")
		if dt, _ := tm.Attr("datetime"); !strings.HasSuffix(dt, "Z") || !strings.HasSuffix(tm.AttrOr("title", ""), "UTC") {
			t.Fatalf("time element: datetime %q title %q", dt, tm.AttrOr("title", ""))
		}

		cases := []struct {
			name  string
			query url.Values
			want  []string
		}{
			{"action", url.Values{"action": {audit.ActionKeyGenerated}}, []string{"api_key.generated", "api_key.generated"}},
			{"API key by name", url.Values{"key": {"shopify sync"}}, []string{"api_key.updated", "api_key.generated"}},
			{"API key by identifier", url.Values{"key": {erp.Identifier}}, []string{"api_key.inactivated", "api_key.generated"}},
			{"another program's key is not found", url.Values{"key": {"Foreign secret integration"}}, nil},
			{"actor", url.Values{"actor": {strings.ToUpper(ts.Demo.Full.Email)}, "action": {audit.ActionKeyInactivated}}, []string{"api_key.inactivated"}},
			{"search", url.Values{"q": {"erp"}}, []string{"api_key.inactivated", "api_key.generated"}},
			{"API key by part of its name", url.Values{"key": {"OPIFY"}}, []string{"api_key.updated", "api_key.generated"}},
			{"actor by prefix", url.Values{"actor": {strings.ToUpper(ts.Demo.Full.Email[:5])}, "action": {audit.ActionKeyInactivated}}, []string{"api_key.inactivated"}},
			{"another program's actor is not found", url.Values{"actor": {ts.Other.Full.Email}}, nil},
			{"24 hours", url.Values{"period": {"24h"}, "q": {"legacy"}}, []string{"api_key.inactivated", "api_key.generated"}},
			{"custom range in the past", url.Values{"from": {"2020-01-01"}, "to": {"2020-01-31"}}, nil},
			{"custom range today", url.Values{"from": {time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")}, "to": {time.Now().UTC().AddDate(0, 0, 1).Format("2006-01-02")}, "tz": {"UTC"}, "q": {"legacy"}}, []string{"api_key.inactivated", "api_key.generated"}},
		}
		for _, tc := range cases {
			doc, got, _ := auditGet(t, c, tc.query)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
			if len(tc.want) == 0 && !strings.Contains(doc.Text(), "No events match these filters") {
				t.Errorf("%s: no empty state", tc.name)
			}
			// The download link carries the same filters.
			href, _ := doc.Find(`a[download]`).Attr("href")
			u, err := url.Parse(href)
			if err != nil || u.Path != auditTrailURL+"/download" {
				t.Fatalf("%s: download link %q", tc.name, href)
			}
			for _, k := range []string{"action", "key", "q", "from", "to"} {
				if v := tc.query.Get(k); v != "" && !strings.EqualFold(u.Query().Get(k), strings.TrimSpace(v)) {
					t.Errorf("%s: download link %q lacks %s=%s", tc.name, href, k, v)
				}
			}
		}

		// Invalid filters are shown back, without events or download.
		doc, got, _ := auditGet(t, c, url.Values{"from": {"2026-02-10"}, "to": {"2026-02-01"}, "action": {"api_key.stolen"}})
		if got != nil || doc.Find("#audit-to-error").Length() != 1 || doc.Find("#audit-action-error").Length() != 1 || doc.Find("a[download]").Length() != 0 {
			t.Fatal("invalid filters not reported")
		}
		resp, _ := c.get(auditTrailURL + "?before=garbage")
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad cursor: %d", resp.StatusCode)
		}
		resp, _ = c.get(auditTrailURL + "/download?period=forever")
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Disposition") != "" {
			t.Fatalf("download with invalid filters: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
		}

		// The Other program's admin sees only their own events.
		oc := ts.loggedIn(t, ts.Other.Support.Email)
		doc, _, otargets := auditGet(t, oc, url.Values{"period": {"all"}})
		if strings.Contains(doc.Text(), ts.Demo.Full.Email) || slices.Contains(otargets, "Legacy ERP") || !slices.Contains(otargets, "Foreign secret integration") {
			t.Fatalf("Other program's page: %v", otargets)
		}
	})
}

func TestAuditTrailKeysetPagingThroughTheRouter(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		err := ts.Store.DB.Transaction(func(tx *gorm.DB) error {
			for i := range 70 {
				if err := ts.Store.Audit.Append(tx, ts.Demo.Program.ID, audit.Actor{Email: ts.Demo.Full.Email}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: fmt.Sprintf("event %02d", i)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		c := ts.loggedIn(t, ts.Demo.Support.Email)
		q := url.Values{"action": {audit.ActionKeyCopied}}
		doc, _, first := auditGet(t, c, q)
		if len(first) != audit.PageSize || first[0] != "event 69" || first[49] != "event 20" {
			t.Fatalf("first page: %d rows %v…", len(first), first[:1])
		}
		if doc.Find(`a[rel=prev]`).Length() != 0 {
			t.Fatal("the first page links to newer events")
		}
		older, ok := doc.Find(`a[rel=next]`).Attr("href")
		if !ok || strings.Contains(older, "offset") || !strings.Contains(older, "action=api_key.copied") {
			t.Fatalf("Older link %q", older)
		}
		// New events arriving meanwhile do not shift the older page.
		ts.Store.Audit.Record(t.Context(), ts.Demo.Program.ID, audit.Actor{}, audit.Entry{Action: audit.ActionKeyCopied, TargetName: "late"})
		resp, body := c.get(older)
		if resp.StatusCode != http.StatusOK {
			t.Fatal(resp.StatusCode)
		}
		doc, _, second := auditRows(t, body)
		if len(second) != 20 || second[0] != "event 19" || second[19] != "event 00" {
			t.Fatalf("second page: %v", second)
		}
		if doc.Find(`a[rel=next]`).Length() != 0 {
			t.Fatal("the last page links to older events")
		}
		newer, ok := doc.Find(`a[rel=prev]`).Attr("href")
		if !ok {
			t.Fatal("no Newer link on the second page")
		}
		// Newer is the page just before: the same 50 events as the first
		// page was, and one more Newer page holds the late event.
		_, body = c.get(newer)
		doc, _, back := auditRows(t, body)
		if !slices.Equal(back, first) {
			t.Fatalf("newer from the last page: %v…", back[:2])
		}
		newest, ok := doc.Find(`a[rel=prev]`).Attr("href")
		if !ok {
			t.Fatal("no Newer link to the late event")
		}
		_, body = c.get(newest)
		doc, _, top := auditRows(t, body)
		if len(top) != audit.PageSize || top[0] != "late" || top[1] != "event 69" || doc.Find(`a[rel=prev]`).Length() != 0 {
			t.Fatalf("newest page: %v…", top[:2])
		}
	})
}

func TestAuditTrailCSVDownload(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		shop, _ := auditSeedKeys(t, ts)
		c := ts.loggedIn(t, ts.Demo.Support.Email)
		doc, _, _ := auditGet(t, c, url.Values{"key": {"Shopify sync"}, "period": {"7d"}})
		href, _ := doc.Find("a[download]").Attr("href")
		resp, body := c.get(href)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d %s", resp.StatusCode, body)
		}
		wantName := fmt.Sprintf(`attachment; filename="audit-trail-%s-%s.csv"`, ts.Demo.Program.PartnerID, time.Now().UTC().Format("2006-01-02"))
		if resp.Header.Get("Content-Disposition") != wantName {
			t.Fatalf("Content-Disposition %q, want %q", resp.Header.Get("Content-Disposition"), wantName)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("headers: %v", resp.Header)
		}
		records, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(records[0], audit.CSVHeader) || len(records) != 3 {
			t.Fatalf("CSV: %q", records)
		}
		col := func(name string) int { return slices.Index(audit.CSVHeader, name) }
		// Chain order, as the JSON Lines download: the key's creation first.
		if records[1][col("action")] != audit.ActionKeyGenerated || records[2][col("action")] != audit.ActionKeyUpdated || records[2][col("target_id")] != shop.Identifier {
			t.Fatalf("rows: %q", records[1:])
		}
		if !strings.Contains(records[2][col("details")], "=SUM(1)") || records[2][col("ip")] != "203.0.113.9" {
			t.Fatalf("row: %q", records[2])
		}
		// The download is itself audited, with its filters.
		actions := ts.auditActions(t, ts.Demo.Program.ID)
		if actions[len(actions)-1] != "audit.downloaded:success" {
			t.Fatalf("download not audited: %v", actions)
		}
		var ev audit.Event
		ts.Store.DB.Where("program_id = ? AND action = ?", ts.Demo.Program.ID, audit.ActionAuditDownloaded).Take(&ev)
		if ev.ActorEmail != ts.Demo.Support.Email || !strings.Contains(ev.Details, `"api_key":"Shopify sync"`) || !strings.Contains(ev.Details, `"period":"7d"`) {
			t.Fatalf("download event: %+v", ev)
		}
		// Another program's events never reach the file, whatever the filter.
		resp, body = c.get(auditTrailURL + "/download?period=all")
		if resp.StatusCode != http.StatusOK || strings.Contains(body, "Foreign secret integration") || strings.Contains(body, ts.Other.Full.Email) {
			t.Fatal("the CSV carries another program's events")
		}
		records, _ = csv.NewReader(strings.NewReader(body)).ReadAll()
		var demoEvents int64
		ts.Store.DB.Model(&audit.Event{}).Where("program_id = ?", ts.Demo.Program.ID).Count(&demoEvents)
		if int64(len(records)-1) != demoEvents {
			t.Fatalf("all-time CSV has %d rows, the program has %d events", len(records)-1, demoEvents)
		}
	})
}

func TestAuditTrailVerifyButton(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Support.Email)
		_, body := c.get(auditTrailURL)
		doc := parseHTML(t, body)
		form := doc.Find(`form[hx-post="/general/audit-trail/verify"]`)
		if strings.TrimSpace(form.Find("button").Text()) != "Verify integrity" || form.AttrOr("hx-target", "") != "#audit-verify-result" {
			t.Fatal("no Verify integrity button")
		}
		var n int64
		ts.Store.DB.Model(&audit.Event{}).Where("program_id = ?", ts.Demo.Program.ID).Count(&n)
		resp, body := c.htmx(http.MethodPost, auditTrailURL+"/verify", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf("Chain intact: %d events verified.", n)) {
			t.Fatalf("verify intact: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, "<html") {
			t.Fatal("htmx got a whole page")
		}
		// Without htmx the page comes back with the result.
		resp, body = c.post(auditTrailURL+"/verify", nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Chain intact:") || !strings.Contains(body, "<html") {
			t.Fatalf("verify without htmx: %d", resp.StatusCode)
		}

		// Tamper with one event behind keydesk's back.
		gdb := ts.Store.DB
		stmts := []string{`DROP TRIGGER audit_events_no_update`}
		if gdb.Dialector.Name() == "postgres" {
			stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
		}
		for _, s := range stmts {
			if err := gdb.Exec(s).Error; err != nil {
				t.Fatal(err)
			}
		}
		var victim audit.Event
		gdb.Where("program_id = ? AND seq = 2", ts.Demo.Program.ID).Take(&victim)
		if err := gdb.Exec(`UPDATE audit_events SET actor_email = 'nobody@example.test' WHERE id = ?`, victim.ID).Error; err != nil {
			t.Fatal(err)
		}
		resp, body = c.htmx(http.MethodPost, auditTrailURL+"/verify", nil)
		want := fmt.Sprintf("Chain broken at event #%d, sequence 2.", victim.ID)
		if resp.StatusCode != http.StatusOK || !strings.Contains(strings.Join(strings.Fields(parseHTML(t, body).Text()), " "), want) {
			t.Fatalf("verify tampered: %d %s", resp.StatusCode, body)
		}
		actions := ts.auditActions(t, ts.Demo.Program.ID)
		if actions[len(actions)-1] != "audit.verified:failure" {
			t.Fatalf("failed verification not audited: %v", actions[len(actions)-3:])
		}
		// The other program's chain is unaffected.
		oc := ts.loggedIn(t, ts.Other.Full.Email)
		_, body = oc.htmx(http.MethodPost, auditTrailURL+"/verify", nil)
		if !strings.Contains(body, "Chain intact:") {
			t.Fatalf("other program: %s", body)
		}
	})
}
