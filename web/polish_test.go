package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
		path := "/general/api-keys/" + itoa(int(k.ID)) + "/edit"
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
		if after := ts.auditActions(t, ts.Demo.Program.ID); !slicesContains(after[before:], "api_key.edited:success") {
			t.Fatalf("the edit was not audited: %v", after[before:])
		}
	})
}

func slicesContains(s []string, v string) bool { return containsAction(s, v) }
