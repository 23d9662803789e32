package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"keydesk/models/modeltest"
	"keydesk/routes"
)

// TestWebhookSecretShownOnceOverTheEndpoint: Add endpoint and Rotate
// secret answer with the endpoint's page and the signing secret in the
// page's dialog, open as it loads, in the shared shown-once pattern; the
// endpoint's page loaded again does not carry it.
func TestWebhookSecretShownOnceOverTheEndpoint(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db, withWebhooksToLoopback())
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		resp, body := c.post(routes.Webhooks, url.Values{"url": {"http://127.0.0.1:9/hook"}, "events": {"api_key.deleted"}})
		doc := parseHTML(t, body)
		dialog := doc.Find("dialog#modal[open][data-open-on-load]")
		secret := strings.TrimSpace(dialog.Find(`[data-shown-once="signing secret"] code[data-shown-once-secret][data-webhook-secret]`).Text())
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("Add endpoint: %d, secret %q in the open dialog\n%s", resp.StatusCode, secret, body)
		}
		if got := strings.TrimSpace(dialog.Find("#modal-title").Text()); got != "Copy your new signing secret now" {
			t.Errorf("title %q", got)
		}
		page, _ := dialog.Find("[data-page-url]").Attr("data-page-url")
		if !strings.HasPrefix(page, routes.Webhooks+"/") || doc.Find("main h1").Text() != "Webhook endpoint" {
			t.Fatalf("the dialog is over %q (page url %q), want the endpoint's page", doc.Find("main h1").Text(), page)
		}
		_, again := c.get(page)
		if strings.Contains(again, secret) || parseHTML(t, again).Find("dialog#modal[open]").Length() != 0 {
			t.Fatal("the endpoint's page shows the secret again")
		}

		resp, body = c.post(page+"/rotate", nil)
		rotated := strings.TrimSpace(parseHTML(t, body).Find("dialog#modal[open] [data-webhook-secret]").Text())
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(rotated, "whsec_") || rotated == secret {
			t.Fatalf("Rotate secret: %d, secret %q", resp.StatusCode, rotated)
		}
		if !strings.Contains(body, "keeps signing beside this one for 24 hours") {
			t.Error("the rotated secret's dialog does not say the previous one keeps signing")
		}
		if strings.Contains(ts.Logs.String(), rotated) || strings.Contains(ts.Logs.String(), secret) {
			t.Fatal("a signing secret reached the log")
		}
	})
}

// TestSCIMTokenShownOnceInTheDialog: Create SCIM token answers with the
// token's shown-once dialog for #modal and the section, out of band,
// saying when the token was made; the section never holds the token.
func TestSCIMTokenShownOnceInTheDialog(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		reauth(t, c, modeltest.Password)
		resp, body := c.htmx(http.MethodPost, routes.SettingsSCIMToken, nil)
		doc := parseHTML(t, body)
		token := strings.TrimSpace(doc.Find(`[data-shown-once="SCIM token"] #scim-token[data-shown-once-secret]`).Text())
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(token, "kdscim_") {
			t.Fatalf("Create SCIM token: %d\n%s", resp.StatusCode, body)
		}
		section := doc.Find(`section#scim-settings[hx-swap-oob="true"]`)
		if section.Length() != 1 || strings.Contains(section.Text(), token) || !strings.Contains(section.Text(), "Created") {
			t.Fatalf("the section swapped beside the dialog: %q", section.Text())
		}
		if form := parseHTML(t, body).Find(`form[hx-post="` + routes.SettingsSCIMToken + `"]`); form.AttrOr("hx-target", "") != "#modal" {
			t.Errorf("Create SCIM token targets %q, want the dialog", form.AttrOr("hx-target", ""))
		}
	})
}

// TestKeyRowLastUsedLines: in the wide table a key's Last used cell says
// "Never" and, on its own line, "0 requests in 24 hours", the line not
// led by the separator the one-line summary uses.
func TestKeyRowLastUsedLines(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync")
	_, page := ts.loggedIn(t, ts.Demo.Full.Email).get(routes.APIKeys)
	counts := parseHTML(t, page).Find("#keys-panel tbody tr span.block[data-requests-24h]")
	if counts.Length() != 1 {
		t.Fatalf("%d lines of their own with the 24-hour count, want 1", counts.Length())
	}
	cell := strings.Join(strings.Fields(counts.Parent().Text()), " ")
	if !strings.HasPrefix(cell, "Never") || strings.Contains(cell, "·") || counts.Text() != "0 requests in 24 hours" {
		t.Fatalf("Last used cell reads %q, its second line %q", cell, counts.Text())
	}
}

// TestKeyRowsKeepTheirCountsAfterActions: the panel that Generate, Edit,
// Inactivate, Activate, Roll key, Expire old key now and Delete answer with keeps each row's "0 requests
// in 24 hours", as the list does (it read "Never" alone until the page was
// loaded again).
func TestKeyRowsKeepTheirCountsAfterActions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		seeded := seedKeys(t, ts, "Shopify sync")
		id := strconv.FormatInt(seeded[0].ID, 10)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		reauth(t, c, modeltest.Password) // Roll key asks for it
		for _, action := range []struct {
			name, path string
			form       url.Values
			rows       int
		}{
			{"generate", routes.APIKeys, url.Values{"name": {"Mobile app"}}, 2},
			{"edit", routes.APIKeys + "/" + id + "/edit", url.Values{"name": {"Shopify sync"}, "description": {"Orders"}, "access": {"full"}}, 2},
			{"inactivate", routes.APIKeys + "/" + id + "/inactivate", nil, 2},
			{"activate", routes.APIKeys + "/" + id + "/activate", nil, 2},
			{"roll", routes.APIKeys + "/" + id + "/roll", url.Values{"old_key_stops": {"24h"}}, 2},
			{"expire the old key", routes.APIKeys + "/" + id + "/expire-old", nil, 2},
			{"inactivate again", routes.APIKeys + "/" + id + "/inactivate", nil, 2},
			{"delete", routes.APIKeys + "/" + id + "/delete", nil, 1},
		} {
			resp, body := c.htmx(http.MethodPost, action.path, action.form)
			rows := parseHTML(t, body).Find("#keys-panel tbody tr")
			counts := rows.Find("[data-requests-24h]")
			if resp.StatusCode != http.StatusOK || rows.Length() != action.rows || counts.Length() < action.rows {
				t.Fatalf("%s: %d, %d rows with %d 24-hour counts\n%s", action.name, resp.StatusCode, rows.Length(), counts.Length(), body)
			}
			if got := counts.First().Text(); got != "0 requests in 24 hours" {
				t.Errorf("%s: the row's count reads %q", action.name, got)
			}
		}
	})
}
