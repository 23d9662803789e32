package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/routes"
)

// TestDeliveryDetailsShowEachAttempt: a delivery's Details dialog lists its
// attempts, newest first: the request body exactly as sent, the answer's
// status and body (the first 4 KiB, marked truncated), never the signing
// secret; the endpoint page offers Details only once a delivery was
// attempted; another endpoint's or program's delivery is not found.
func TestDeliveryDetailsShowEachAttempt(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		var calls atomic.Int32
		var received atomic.Value
		long := strings.Repeat("<p>receiver down</p>", 400) // 8 KiB
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			received.Store(string(body))
			if calls.Add(1) == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(long))
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"received":true}`))
		}))
		defer rcv.Close()
		ts := newTestServer(t, db, withWebhooksToLoopback())
		actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
		ep, secret, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/other", Events: []string{"api_key.created"}})
		if err != nil {
			t.Fatal(err)
		}
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		delivered := waitForDelivery(t, ts, ep.ID, d.ID, outbox.StatusDelivered)
		if delivered.Attempts != 2 {
			t.Fatalf("%d attempts, want 2", delivered.Attempts)
		}
		_, page := c.get(routes.WebhookEndpoint(ep.ID))
		if parseHTML(t, page).Find(`#delivery-log [data-delivery-details][hx-get="`+routes.WebhookDelivery(ep.ID, d.ID)+`"]`).Length() != 1 {
			t.Fatal("the delivered row offers no Details")
		}
		res, body := c.get(routes.WebhookDelivery(ep.ID, d.ID))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("Details: %d", res.StatusCode)
		}
		doc := parseHTML(t, body)
		attempts := doc.Find("[data-delivery-attempts] details[data-attempt]")
		if attempts.Length() != 2 {
			t.Fatalf("%d attempts shown, want 2", attempts.Length())
		}
		newest, oldest := attempts.Eq(0), attempts.Eq(1)
		if n, _ := newest.Attr("data-attempt"); n != "2" {
			t.Fatalf("the first attempt shown is %s, want the newest (2)", n)
		}
		if _, open := newest.Attr("open"); !open {
			t.Error("the newest attempt is not open")
		}
		if got := newest.Find("[data-request-body]").Text(); got != received.Load() || got != d.Payload {
			t.Fatalf("request body shown %q, sent %q", got, received.Load())
		}
		if !strings.Contains(newest.Find("[data-request-headers]").Text(), "Webhook-Signature: v1,") {
			t.Errorf("request headers shown: %q", newest.Find("[data-request-headers]").Text())
		}
		if newest.Find("[data-response-code]").Text() != "200" || newest.Find("[data-response-body]").Text() != `{"received":true}` || newest.Find("[data-truncated]").Length() != 0 {
			t.Errorf("newest answer shown: %q %q", newest.Find("[data-response-code]").Text(), newest.Find("[data-response-body]").Text())
		}
		if oldest.Find("[data-response-code]").Text() != "503" || oldest.Find("[data-response-body]").Text() != long[:outbox.MaxKeptResponseBody] ||
			oldest.Find("[data-truncated]").Length() != 1 {
			t.Errorf("the refused answer is not shown cut at 4 KiB and marked truncated")
		}
		if strings.Contains(body, strings.TrimPrefix(secret, "whsec_")) {
			t.Fatal("the dialog shows the signing secret")
		}
		// Only through its own endpoint, and only in its own program.
		if res, _ := c.get(routes.WebhookDelivery(other.ID, d.ID)); res.StatusCode != http.StatusNotFound {
			t.Errorf("through another endpoint: %d", res.StatusCode)
		}
		oc := ts.loggedIn(t, ts.Other.Full.Email)
		if res, _ := oc.get(routes.WebhookDelivery(ep.ID, d.ID)); res.StatusCode != http.StatusNotFound {
			t.Errorf("from another program: %d", res.StatusCode)
		}
	})
}

// TestLogNeverSaysPendingBesideAnAnswer: a delivery the receiver refused
// and that waits for its retry reads "Retrying" beside the answer's code
// (never "Pending"), its log keeps refreshing itself, and Details shows the
// refusal.
func TestLogNeverSaysPendingBesideAnAnswer(t *testing.T) {
	var calls atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer rcv.Close()
	ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback(), func(cfg *config.Options) {
		cfg.Events.Webhooks.RetryBase = time.Hour // the retry waits beyond the test
	})
	actor := audit.Actor{AdminID: ts.Demo.Full.ID, Email: ts.Demo.Full.Email}
	ep, _, err := ts.Store.Outbox.CreateEndpoint(t.Context(), ts.Demo.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{"api_key.created"}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ts.Store.Outbox.SendTest(t.Context(), ts.Demo.Program.ID, actor, ep.ID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ds, err := ts.Store.Outbox.Deliveries(t.Context(), ts.Demo.Program.ID, ep.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 && ds[0].ResponseCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the refusal was never recorded: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := ts.loggedIn(t, ts.Demo.Full.Email)
	_, page := c.get(routes.WebhookEndpoint(ep.ID))
	doc := parseHTML(t, page)
	row := doc.Find(`#delivery-log tbody tr[data-delivery-status=pending]`)
	status := strings.TrimSpace(row.Find(`td[data-label=Status] span`).First().Text())
	if row.Length() != 1 || status != "Retrying" || strings.TrimSpace(row.Find(`td[data-label="Response code"]`).Text()) != "503" {
		t.Fatalf("the refused delivery's row: status %q, code %q", status, row.Find(`td[data-label="Response code"]`).Text())
	}
	if strings.Contains(row.Text(), "Pending") {
		t.Fatalf("the row says Pending beside an answer: %q", strings.Join(strings.Fields(row.Text()), " "))
	}
	if doc.Find(`#delivery-log-section[data-refreshing]`).Length() != 1 {
		t.Error("the log of a delivery awaiting its retry does not refresh itself")
	}
	_, dialog := c.get(routes.WebhookDelivery(ep.ID, d.ID))
	if got := parseHTML(t, dialog).Find(`details[data-attempt="1"] [data-response-code]`).Text(); got != "503" {
		t.Fatalf("Details shows the refusal as %q", got)
	}
}
