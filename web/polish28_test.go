package web_test

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/routes"
)

// TestKeyRowSaysNeverUsedWithItsCount: a fresh key's row reads "Never
// used · 0 requests in 24 hours", words apart.
func TestKeyRowSaysNeverUsedWithItsCount(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	seedKeys(t, ts, "Shopify sync")
	_, page := ts.loggedIn(t, ts.Demo.Full.Email).get("/general/api-keys")
	text := strings.Join(strings.Fields(parseHTML(t, page).Find("#keys-panel tbody tr").First().Text()), " ")
	if !strings.Contains(text, "Never used · 0 requests in 24 hours") {
		t.Fatalf("row says %q", text)
	}
}

// TestRetryNowNeverResendsASuccess: Retry now on a delivery the receiver
// accepted changes nothing (no second POST is queued, no audit event) and
// says so; on a failed one it queues the retry.
func TestRetryNowNeverResendsASuccess(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		var mu sync.Mutex
		posts := 0
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			posts++
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer rcv.Close()
		ts := newTestServer(t, db, withWebhooksToLoopback())
		actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
		ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		delivered := waitForDelivery(t, ts, ep.ID, d.ID, outbox.StatusDelivered)
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		before := len(ts.auditActions(t, ts.Demo.Program.ID))
		resp, _ := c.post(routes.WebhookDeliveryRetry(ep.ID, d.ID), nil)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "?done=delivered") {
			t.Fatalf("Retry now on a delivered delivery: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		after := waitForDelivery(t, ts, ep.ID, d.ID, outbox.StatusDelivered)
		if after.Attempts != delivered.Attempts || !after.NextAttemptAt.Equal(delivered.NextAttemptAt) {
			t.Fatalf("the delivered delivery was queued again: attempts %d→%d", delivered.Attempts, after.Attempts)
		}
		if got := len(ts.auditActions(t, ts.Demo.Program.ID)); got != before {
			t.Fatalf("a refused retry was audited (%d→%d events)", before, got)
		}
		_, page := c.get(routes.WebhookEndpoint(ep.ID) + "?done=delivered")
		if !strings.Contains(page, "already succeeded") {
			t.Error("the endpoint page does not say the delivery already succeeded")
		}
		if _, err := ts.Store.Outbox.RetryNow(t.Context(), ts.Demo.Program.ID, actor, ep.ID, d.ID); !errors.Is(err, outbox.ErrAlreadyDelivered) {
			t.Fatalf("RetryNow on a delivered delivery: %v, want ErrAlreadyDelivered", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if posts != 1 {
			t.Fatalf("the receiver got %d POSTs, want 1", posts)
		}
	})
}

// waitForDelivery reads a delivery until it has the status (the worker
// delivers in the background).
func waitForDelivery(t *testing.T, ts *testServer, endpointID, id int64, status string) outbox.Delivery {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := ts.Store.Outbox.Deliveries(t.Context(), ts.Demo.Program.ID, endpointID, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.ID == id && d.Status == status {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %d never became %s: %+v", id, status, ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConfigurationShownWhereItMatters: a webhook URL the settings refuse
// names the setting; with email on, a failed mail shows on General »
// Webhooks ("Last mail failed: …") instead of "Email notices are on".
func TestConfigurationShownWhereItMatters(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	ts := newTestServer(t, modeltest.SQLite(t), func(cfg *config.Options) {
		cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://"+addr, "keydesk@example.test", "https://keydesk.example.test"
		cfg.Events.Webhooks.PollInterval = 50 * time.Millisecond
	})
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	_, body := addEndpoint(c, "http://127.0.0.1:8080/hook")
	if msg := parseHTML(t, body).Find("#webhook-url-error").Text(); !strings.Contains(msg, "KEYDESK_WEBHOOK_ALLOW_PRIVATE") {
		t.Errorf("a refused private target does not name the setting: %q", msg)
	}
	if _, page := c.get("/general/webhooks"); !strings.Contains(page, "Email notices are on") {
		t.Fatal("email notices are not on")
	}
	invite(t, c, "invited@example.test", "limited")
	deadline := time.Now().Add(15 * time.Second)
	for {
		last, err := ts.Store.Outbox.LastMailStatus(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last.Failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the mail to a closed port never failed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, page := c.get("/general/webhooks")
	notice := strings.Join(strings.Fields(parseHTML(t, page).Find("[data-mail-notices]").Text()), " ")
	if !strings.HasPrefix(notice, "Last mail failed: ") || !strings.Contains(notice, addr) {
		t.Fatalf("the mail notice says %q, want the last failure", notice)
	}
}

// TestAPIReferenceReadsAsText: the reference renders its Markdown (no raw
// backticks or **), unwrapped, names no operator setting, and the sidebar
// marks API reference, not API Keys.
func TestAPIReferenceReadsAsText(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	_, page := ts.loggedIn(t, ts.Demo.Full.Email).get(routes.APIReference)
	doc := parseHTML(t, page)
	text := doc.Find("main").Text()
	for _, raw := range []string{"`", "**", "KEYDESK_"} {
		if strings.Contains(text, raw) {
			t.Errorf("the API reference shows %q", raw)
		}
	}
	if doc.Find("main code").Length() < 20 || doc.Find("main strong").Length() == 0 {
		t.Error("the reference's code and strong text are not rendered as such")
	}
	if doc.Find("main .whitespace-pre-line").Length() != 0 {
		t.Error("the reference keeps the YAML's line breaks")
	}
	if got := strings.TrimSpace(doc.Find(`nav[aria-label=General] a[aria-current=page]`).Text()); got != "API reference" {
		t.Errorf("the sidebar marks %q", got)
	}
}
