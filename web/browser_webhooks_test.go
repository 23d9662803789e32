package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keydesk/config"
	"keydesk/models/modeltest"
)

// withWebhooksToLoopback lets the webhook worker reach the test's own
// receiver on 127.0.0.1 (KEYDESK_WEBHOOK_ALLOW_PRIVATE=true) and poll often.
func withWebhooksToLoopback() serverOption {
	return func(c *config.Options) {
		c.Events.Webhooks.AllowPrivate = true
		c.Events.Webhooks.PollInterval = 50 * time.Millisecond
		c.Events.Webhooks.RetryBase = 50 * time.Millisecond
	}
}

// TestBrowserWebhookJourney: an admin adds an endpoint, copies the secret
// shown once, sends a test event and reads it as delivered in the log; the
// receiver verified the signature with that secret.
func TestBrowserWebhookJourney(t *testing.T) {
	var mu sync.Mutex
	var secret string
	var verified, refused int
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil || wh.Verify(body, r.Header) != nil || !strings.Contains(string(body), `"type":"webhook.test"`) {
			refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		verified++
		w.WriteHeader(http.StatusOK)
	}))
	defer rcv.Close()

	ts := newTestServer(t, modeltest.SQLite(t), withWebhooksToLoopback())
	ctx := newBrowser(t, 1280, 900)
	browserLogin(t, ctx, ts.URL, ts.Demo.Full.Email)

	runStep(t, ctx, "open Webhooks from the nav",
		chromedp.Click(chromedp.Search("//nav[@aria-label='General']//a[normalize-space()='Webhooks']")),
		chromedp.WaitVisible(chromedp.Search("//h2[normalize-space()='Add endpoint']")),
	)
	screenshot(t, ctx, "webhooks-empty")
	runStep(t, ctx, "add an endpoint",
		chromedp.SendKeys(chromedp.Search("//label[normalize-space()='URL']/following-sibling::input"), rcv.URL+"/keydesk"),
		chromedp.Click(chromedp.CSS(`input[name=events][value="api_key.created"]`)),
		chromedp.Click(chromedp.CSS(`input[name=events][value="api_key.rolled"]`)),
		chromedp.Click(xpathButton("Add endpoint")),
		chromedp.WaitVisible(chromedp.CSS("[data-webhook-secret]")),
	)
	shown, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-webhook-secret]').textContent`))
	if err != nil || !strings.HasPrefix(shown, "whsec_") {
		t.Fatalf("secret shown: %q (%v)", shown, err)
	}
	mu.Lock()
	secret = shown
	mu.Unlock()
	screenshot(t, ctx, "webhooks-secret")
	runStep(t, ctx, "Done closes the secret's dialog over the endpoint; send a test event",
		settled(),
		chromedp.Click(chromedp.Search("//dialog[@id='modal']//button[normalize-space()='Done']")),
		chromedp.WaitNotPresent(chromedp.CSS("dialog#modal[open]")),
		chromedp.WaitVisible(xpathButton("Send test event")),
		chromedp.Click(xpathButton("Send test event")),
		chromedp.WaitVisible(chromedp.Search("//*[@role='status'][contains(., 'Test event queued')]")),
	)
	// The log is a page: reload until the worker has delivered.
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('#delivery-log tbody tr') || {dataset: {}}).dataset.deliveryStatus || ''`))
		if err != nil {
			t.Fatal(err)
		}
		if status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			screenshot(t, ctx, "webhooks-log-timeout")
			t.Fatalf("test event not delivered (status %q)", status)
		}
		time.Sleep(200 * time.Millisecond)
		runStep(t, ctx, "reload the log", chromedp.Reload(), chromedp.WaitVisible(xpathButton("Send test event")))
	}
	row, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#delivery-log tbody tr').innerText`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"webhook.test", "Delivered", "200", "1"} {
		if !strings.Contains(row, want) {
			t.Fatalf("delivery log row %q lacks %q", row, want)
		}
	}
	screenshot(t, ctx, "webhooks-log")
	mu.Lock()
	defer mu.Unlock()
	if verified != 1 || refused != 0 {
		t.Fatalf("receiver verified %d, refused %d", verified, refused)
	}
}
