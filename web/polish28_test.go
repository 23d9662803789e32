package web_test

import (
	"strings"
	"testing"

	"keydesk/models/modeltest"
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
