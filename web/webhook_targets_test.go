package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// publicHook is a public IP literal: saving it needs no name lookup, and
// no test here sends it an event.
const publicHook = "https://93.184.215.14/keydesk"

// addEndpoint sends the Add endpoint form as c.
func addEndpoint(c *client, target string) (*http.Response, string) {
	return c.post("/general/webhooks", url.Values{"url": {target}, "events": {outbox.EventKeyCreated}})
}

func endpointCount(t *testing.T, ts *testServer) int64 {
	t.Helper()
	var n int64
	if err := ts.Store.DB.Raw(`SELECT COUNT(*) FROM webhook_endpoints WHERE program_id = ?`, ts.Demo.Program.ID).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWebhookPrivateTargetsRefusedAtAddAndEdit: without
// KEYDESK_WEBHOOK_ALLOW_PRIVATE, Add endpoint and the endpoint's edit form
// refuse loopback, private, link-local and unspecified targets (IPv4, IPv6,
// IPv4-mapped, localhost) with a message that says why; nothing is saved.
// An endpoint already pointing at one may be switched off, not on. With the
// variable set, the same target is accepted.
func TestWebhookPrivateTargetsRefusedAtAddAndEdit(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		refused := map[string]string{
			"http://127.0.0.1:8080/hook":    "127.0.0.1 is a loopback address",
			"http://[::1]:8080/hook":        "::1 is a loopback address",
			"http://0.0.0.0/hook":           "0.0.0.0 is the unspecified address",
			"http://169.254.169.254/latest": "169.254.169.254 is a link-local address",
			"http://[::ffff:10.0.0.7]/hook": "::ffff:10.0.0.7 is a private address",
			"http://localhost:9000/keydesk": "localhost is this machine",
			"https://192.168.0.10/hook":     "192.168.0.10 is a private address",
			"http://[fe80::1]/hook":         "fe80::1 is a link-local address",
		}
		for target, why := range refused {
			resp, body := addEndpoint(c, target)
			msg := strings.TrimSpace(parseHTML(t, body).Find("#webhook-url-error").Text())
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, "Webhook URLs must point to a public address") || !strings.Contains(msg, why) {
				t.Errorf("add %s: status %d, message %q (want %q)", target, resp.StatusCode, msg, why)
			}
		}
		if n := endpointCount(t, ts); n != 0 {
			t.Fatalf("%d endpoints saved from refused targets", n)
		}

		// Edit: a saved public endpoint cannot be pointed at loopback.
		if resp, body := addEndpoint(c, publicHook); resp.StatusCode != http.StatusOK {
			t.Fatalf("add a public endpoint: %d\n%s", resp.StatusCode, body)
		}
		eps, err := ts.Store.Outbox.Endpoints(t.Context(), ts.Demo.Program.ID)
		if err != nil || len(eps) != 1 {
			t.Fatalf("endpoints %v (%v)", eps, err)
		}
		edit := fmt.Sprintf("/general/webhooks/%d", eps[0].ID)
		for target, why := range refused {
			resp, body := c.post(edit, url.Values{"url": {target}, "events": {outbox.EventKeyCreated}, "enabled": {"true"}})
			msg := strings.TrimSpace(parseHTML(t, body).Find("#webhook-url-error").Text())
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, why) {
				t.Errorf("edit to %s: status %d, message %q (want %q)", target, resp.StatusCode, msg, why)
			}
		}
		if ep, _ := ts.Store.Outbox.EndpointByID(t.Context(), ts.Demo.Program.ID, eps[0].ID); ep.URL != publicHook {
			t.Fatalf("the edit saved %q", ep.URL)
		}
		if resp, _ := c.post(edit, url.Values{"url": {publicHook + "/v2"}, "events": {outbox.EventKeyCreated}, "enabled": {"true"}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("edit to a public URL: %d", resp.StatusCode)
		}

		// An endpoint saved with a private target before this check (here:
		// through an outbox store that allows private targets) can still be
		// switched off, but not on again.
		legacy, _, err := ts.Store.OutboxWith(outbox.Options{AllowPrivateTargets: true}).CreateEndpoint(t.Context(), ts.Demo.Program.ID, audit.Actor{}, outbox.EndpointInput{URL: "http://10.0.0.9/hook", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatal(err)
		}
		legacyPath := fmt.Sprintf("/general/webhooks/%d", legacy.ID)
		if resp, _ := c.post(legacyPath, url.Values{"url": {legacy.URL}, "events": {outbox.EventKeyCreated}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("disabling a private endpoint: %d", resp.StatusCode)
		}
		if resp, _ := c.post(legacyPath, url.Values{"url": {legacy.URL}, "events": {outbox.EventKeyCreated}, "enabled": {"true"}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("enabling a private endpoint: %d", resp.StatusCode)
		}
		if ep, _ := ts.Store.Outbox.EndpointByID(t.Context(), ts.Demo.Program.ID, legacy.ID); ep.Enabled {
			t.Fatal("the private endpoint was enabled")
		}

		// KEYDESK_WEBHOOK_ALLOW_PRIVATE=true accepts a private target.
		open := newTestServer(t, db, withWebhooksToLoopback())
		oc := open.loggedIn(t, open.Demo.Full.Email)
		if resp, body := addEndpoint(oc, "http://127.0.0.1:8080/hook"); resp.StatusCode != http.StatusOK {
			t.Fatalf("allowed private target refused: %d\n%s", resp.StatusCode, body)
		}
	})
}

// TestWebhookEndpointCapHoldsUnderSimultaneousAdds: 25 Add endpoint
// requests sent at once through the router leave exactly
// MaxEndpointsPerProgram endpoints; the others get 409 and are audited as
// refused. The page then says "10 of 10", disables Add endpoint and says why.
func TestWebhookEndpointCapHoldsUnderSimultaneousAdds(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		token := c.csrf()
		const attempts = 25
		reqs := make([]*http.Request, attempts)
		for i := range attempts {
			reqs[i] = mustRequest(t, ts.URL+"/general/webhooks", url.Values{"url": {fmt.Sprintf("%s/%d", publicHook, i)}, "events": {outbox.EventKeyCreated}}, token)
		}
		got := sendAtOnce(c, reqs)
		if got[http.StatusOK] != outbox.MaxEndpointsPerProgram || got[http.StatusConflict] != attempts-outbox.MaxEndpointsPerProgram {
			t.Fatalf("statuses %v, want %d × 200 and %d × 409", got, outbox.MaxEndpointsPerProgram, attempts-outbox.MaxEndpointsPerProgram)
		}
		if n := endpointCount(t, ts); n != outbox.MaxEndpointsPerProgram {
			t.Fatalf("%d endpoints, the cap is %d", n, outbox.MaxEndpointsPerProgram)
		}
		var refusals int64
		ts.Store.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?`,
			ts.Demo.Program.ID, audit.ActionWebhookCreated, audit.OutcomeRefused).Scan(&refusals)
		if refusals != attempts-outbox.MaxEndpointsPerProgram {
			t.Fatalf("%d refusals audited", refusals)
		}

		_, body := c.get("/general/webhooks")
		doc := parseHTML(t, body)
		if count := strings.TrimSpace(doc.Find("[data-endpoint-count]").Text()); count != "10 of 10" {
			t.Fatalf("count shown %q", count)
		}
		btn := doc.Find(`form[action="/general/webhooks"] button[type=submit]`)
		reason := doc.Find("#endpoint-limit-reason").Text()
		if _, disabled := btn.Attr("disabled"); !disabled || !strings.Contains(reason, "10 webhook endpoints, the most allowed") {
			t.Fatalf("at the cap: button disabled %v, reason %q", disabled, reason)
		}
		// A forged request past the cap gets the reason and changes nothing.
		resp, body := addEndpoint(c, publicHook+"/extra")
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "the most allowed") || endpointCount(t, ts) != outbox.MaxEndpointsPerProgram {
			t.Fatalf("over the cap: status %d", resp.StatusCode)
		}
		// Another program is not affected by this one's endpoints.
		oc := ts.loggedIn(t, ts.Other.Full.Email)
		if resp, _ := addEndpoint(oc, publicHook); resp.StatusCode != http.StatusOK {
			t.Fatalf("other program: %d", resp.StatusCode)
		}
	})
}
