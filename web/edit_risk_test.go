package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/modeltest"
	"keydesk/routes"
)

// TestEditThatBreaksALiveKeyAsksFirst: Save with Restricted and nothing
// ticked, or with allowed addresses that leave out the admin's own
// address, changes nothing and asks, naming the address; Save anyway
// saves. An edit that keeps the admin's address saves at once.
func TestEditThatBreaksALiveKeyAsksFirst(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		k := seedKeys(t, ts, "Shopify sync")[0]
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		edit := func(form url.Values) string {
			t.Helper()
			form.Set("name", "Shopify sync")
			resp, body := c.htmx(http.MethodPost, routes.APIKeyEdit(k.ID), form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("edit: %d %s", resp.StatusCode, body)
			}
			return body
		}
		stored := func() (bool, string) {
			t.Helper()
			got, err := ts.Store.Keys.ByID(t.Context(), ts.Demo.Program.ID, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.Restricted, got.AllowedIPs
		}

		body := edit(url.Values{"access": {"restricted"}})
		if doc := parseHTML(t, body); doc.Find("[data-edit-risk]").Length() != 1 || !strings.Contains(doc.Find("[data-edit-risk]").Text(), "no permission ticked") {
			t.Fatalf("Restricted with nothing ticked saved without asking:\n%s", body)
		}
		if restricted, _ := stored(); restricted {
			t.Fatal("the key was restricted before the admin confirmed")
		}

		body = edit(url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.7"}})
		risk := parseHTML(t, body).Find("[data-edit-risk]").Text()
		if !strings.Contains(risk, "your address: 127.0.0.1") {
			t.Fatalf("an allowlist without the admin's address: warning %q, want it to name 127.0.0.1", risk)
		}
		if _, ips := stored(); ips != "" {
			t.Fatalf("allowed addresses saved before the admin confirmed: %q", ips)
		}
		edit(url.Values{"access": {"full"}, "allowed_ips": {"203.0.113.7"}, "confirm_breaking": {"1"}})
		if _, ips := stored(); ips != "203.0.113.7" {
			t.Fatalf("Save anyway did not save: %q", ips)
		}

		// Keeping the admin's address (and one more) asks nothing.
		body = edit(url.Values{"access": {"full"}, "allowed_ips": {"127.0.0.0/8\n203.0.113.7"}})
		if strings.Contains(body, "data-edit-risk") {
			t.Fatalf("an allowlist with the admin's address asked: %s", body)
		}
		if _, ips := stored(); !strings.Contains(ips, "127.0.0.0/8") {
			t.Fatalf("not saved: %q", ips)
		}
	})
}
