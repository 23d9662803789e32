package web_test

import (
	"net/http"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// TestStaticDirectoriesAreNotListed (issue 11, item 9): /static/ and its
// folders are a 404, not a listing of the files; the files are served.
func TestStaticDirectoriesAreNotListed(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	c := ts.newClient(t)
	for _, path := range []string{"/static/", "/static", "/static/js/", "/static/js", "/static/css/", "/static/./js/", "/static/js/../", "/static/%2e/", "/static/js/nope.js"} {
		resp, body := c.get(path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
		// The error page links the assets itself; a listing is links to
		// bare names.
		for _, listed := range []string{`<a href="app.js"`, `<a href="htmx.min.js"`, `<a href="app.css"`, `<a href="favicon.svg"`, `<a href="js/"`, `<a href="css/"`} {
			if strings.Contains(body, listed) {
				t.Errorf("GET %s lists %q:\n%s", path, listed, body)
			}
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
			t.Errorf("GET %s sets cookies %q", path, sc)
		}
	}
	for _, path := range []string{"/static/js/app.js", "/static/css/app.css", "/static/favicon.svg"} {
		if resp, body := c.get(path); resp.StatusCode != http.StatusOK || body == "" {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
}

// TestUnknownRoutesSkipTheConsole (issue 11, item 9): a path no route
// serves is a plain 404 that never reaches the console's session and CSRF
// middleware: no cookie is set or refreshed, signed in or not, and a POST
// without a CSRF token is a 404 too, not the console's CSRF refusal.
func TestUnknownRoutesSkipTheConsole(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		anon := ts.newClient(t)
		admin := ts.loggedIn(t, ts.Demo.Full.Email)
		paths := []string{"/nope", "/v2/nope", "/v2/loyalty/nope", "/v2/", "/general/nope", "/general/audit-trail/nope", "/general/api-keys/1/nope", "/login/nope"}
		for who, c := range map[string]*client{"anonymous": anon, "signed in": admin} {
			for _, path := range paths {
				for _, method := range []string{http.MethodGet, http.MethodPost} {
					resp, body := c.do(method, path, nil, nil)
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("%s %s %s: %d, want 404", who, method, path, resp.StatusCode)
					}
					if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
						t.Errorf("%s %s %s sets cookies %q", who, method, path, sc)
					}
					if strings.HasPrefix(path, "/v2/") && !strings.Contains(body, `"error_code"`) {
						t.Errorf("%s %s %s: not the API's JSON error: %s", who, method, path, body)
					}
				}
			}
		}
		// The console itself still works for the signed-in admin.
		if resp, _ := admin.get("/general/api-keys"); resp.StatusCode != http.StatusOK {
			t.Fatalf("console after the probes: %d", resp.StatusCode)
		}
	})
}
