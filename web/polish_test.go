package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"keydesk/models/modeltest"
)

// TestUnchangedEditWritesNothing: saving the Edit dialog without a change
// writes no audit event and says "No changes", not "saved"; a real change
// still saves and is audited.
func TestUnchangedEditWritesNothing(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		k := seedKeys(t, ts, "Shopify sync")[0]
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		before := len(ts.auditActions(t, ts.Demo.Program.ID))
		path := "/general/api-keys/" + itoa(k.ID) + "/edit"
		resp, _ := c.htmx(http.MethodPost, path, url.Values{"name": {"  Shopify sync "}, "description": {k.Description}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("HX-Trigger"), "No changes") || strings.Contains(resp.Header.Get("HX-Trigger"), "saved") {
			t.Fatalf("unchanged edit: %d %s", resp.StatusCode, resp.Header.Get("HX-Trigger"))
		}
		if after := ts.auditActions(t, ts.Demo.Program.ID); len(after) != before {
			t.Fatalf("an unchanged edit wrote events: %v", after[before:])
		}
		resp, _ = c.htmx(http.MethodPost, path, url.Values{"name": {"Shopify orders"}, "description": {k.Description}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("HX-Trigger"), "saved") {
			t.Fatalf("real edit: %d %s", resp.StatusCode, resp.Header.Get("HX-Trigger"))
		}
		if after := ts.auditActions(t, ts.Demo.Program.ID); !slicesContains(after[before:], "api_key.updated:success") {
			t.Fatalf("the edit was not audited: %v", after[before:])
		}
	})
}

func slicesContains(s []string, v string) bool { return containsAction(s, v) }

// TestSessionEndedSignInTarget: without a live session, an htmx action is
// sent to the sign-in page with the page it came from and the ended notice;
// a foreign or missing page is dropped; a visitor without a cookie gets no
// notice.
func TestSessionEndedSignInTarget(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	k := seedKeys(t, ts, "Legacy ERP (off)")[0]
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	csrf := c.pageCSRF()
	if err := ts.Store.DB.Exec("DELETE FROM sessions").Error; err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ current, want string }{
		{ts.URL + "/general/api-keys?q=erp", "/login?ended=1&next=%2Fgeneral%2Fapi-keys%3Fq%3Derp"},
		{"https://evil.example/general/api-keys", "/login?ended=1"},
		{"", "/login?ended=1"},
	} {
		resp, _ := c.do(http.MethodPost, "/general/api-keys/"+itoa(k.ID)+"/activate", url.Values{"_csrf": {csrf}}, map[string]string{"HX-Request": "true", "HX-Current-URL": tc.current, "X-CSRF-Token": csrf})
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("HX-Redirect") != tc.want {
			t.Errorf("from %q: %d HX-Redirect %q, want 401 %q", tc.current, resp.StatusCode, resp.Header.Get("HX-Redirect"), tc.want)
		}
	}
	_, body := c.get("/login?ended=1")
	if !strings.Contains(body, "Your session has ended. Sign in again.") {
		t.Fatal("the sign-in page does not say the session ended")
	}
	anon := ts.newClient(t)
	resp, _ := anon.do(http.MethodGet, "/general/api-keys", nil, nil)
	if loc := resp.Header.Get("Location"); loc != "/login?next=%2Fgeneral%2Fapi-keys" {
		t.Fatalf("a visitor without a session is sent to %q", loc)
	}
}

// TestRowButtonsNameTheirKey: every per-row button keeps its visible name
// and points aria-describedby at the element holding its key's name.
func TestRowButtonsNameTheirKey(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync", "Legacy ERP (off)")
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	_, body := c.get("/general/api-keys")
	doc := parseHTML(t, body)
	rows := doc.Find("#keys-panel tbody tr")
	if rows.Length() != 2 {
		t.Fatalf("%d rows", rows.Length())
	}
	rows.Each(func(_ int, row *goquery.Selection) {
		name := strings.TrimSpace(row.Find("td p").First().Text())
		checked := 0
		row.Find("button").Each(func(_ int, b *goquery.Selection) {
			label, _ := b.Attr("aria-label")
			if label == "" {
				label = strings.TrimSpace(b.Text())
			}
			if strings.HasPrefix(label, "Copy identifier") {
				return
			}
			ref, ok := b.Attr("aria-describedby")
			if !ok {
				t.Errorf("%s: button %q has no aria-describedby", name, label)
				return
			}
			if got := strings.TrimSpace(doc.Find("#" + ref).Text()); got != name {
				t.Errorf("%s: button %q is described by %q", name, label, got)
			}
			checked++
		})
		if checked < 3 {
			t.Errorf("%s: only %d buttons checked", name, checked)
		}
	})
}

// TestNoAccessPageNamesWhoToAsk: a limited admin without modules is told
// which full-access admins of the program can grant one.
func TestNoAccessPageNamesWhoToAsk(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Limited.Email)
		_, body := c.get("/general/no-access")
		doc := parseHTML(t, body)
		got := strings.TrimSpace(doc.Find("[aria-labelledby=ask-heading] li").Text())
		if got != ts.Demo.Full.Email {
			t.Fatalf("the page names %q, want the full-access admin %q", got, ts.Demo.Full.Email)
		}
	})
}

// TestAPIReferencePage: the API reference lists every operation of
// openapi.yaml with its responses, for full-access admins.
func TestAPIReferencePage(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	resp, body := c.get("/general/api-reference")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("API reference: %d", resp.StatusCode)
	}
	doc := parseHTML(t, body)
	var ops []string
	doc.Find("main section[aria-label]").Each(func(_ int, s *goquery.Selection) {
		label, _ := s.Attr("aria-label")
		ops = append(ops, label)
	})
	for _, want := range []string{"GET /v2/loyalty/program", "GET /v2/loyalty/members", "POST /v2/loyalty/members"} {
		if !slicesContains(ops, want) {
			t.Errorf("the reference lacks %s (has %v)", want, ops)
		}
	}
	if !strings.Contains(body, "Missing, malformed, unknown, inactive, deleted or foreign credentials.") {
		t.Error("shared responses ($ref) are not resolved")
	}
}
