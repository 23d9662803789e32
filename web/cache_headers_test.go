package web_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"keydesk/models/modeltest"
)

// Every response carries the security headers' one Cache-Control: no-store,
// pages with secrets included; nothing adds the HTTP/1.0 Pragma beside it.
func TestNoStoreComesOnceFromTheSecurityHeaders(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	admin := ts.loggedIn(t, ts.Demo.Full.Email)
	if resp, _ := generate(t, admin, "Cache probe"); resp.StatusCode != http.StatusOK {
		t.Fatal("setup: generate")
	}
	key := keyByName(t, ts, ts.Demo.Program.ID, "Cache probe")
	check := func(what string, resp *http.Response) {
		t.Helper()
		if got := resp.Header.Values("Cache-Control"); !slices.Equal(got, []string{"no-store"}) {
			t.Errorf("%s: Cache-Control %q, want exactly no-store", what, got)
		}
		if got := resp.Header.Values("Pragma"); len(got) != 0 {
			t.Errorf("%s: Pragma %q, want none", what, got)
		}
	}
	for _, path := range []string{"/account", "/general/webhooks", "/general/admins", "/general/api-keys", "/general/audit-trail"} {
		resp, _ := admin.get(path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		check("GET "+path, resp)
	}
	resp, _ := admin.htmx(http.MethodPost, fmt.Sprintf("/general/api-keys/%d/reveal", key.ID), nil)
	check("reveal", resp)
}
