package web_test

import (
	"bufio"
	"slices"
	"strings"
	"testing"

	"keydesk/models/modeltest"
)

// The OpenAPI document lists exactly the routes registered under /v2.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	ts := newTestServer(t, modeltest.SQLite(t))
	r := apiCall(t, ts.URL, "GET", "/v2/openapi.yaml", nil, "")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/yaml") || !strings.HasPrefix(r.Raw, "openapi: 3.1") {
		t.Fatalf("openapi.yaml: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	documented := openAPIOperations(t, r.Raw)

	var registered []string
	for _, rt := range ts.App.Echo.Routes() {
		// HEAD is every GET route's twin (TestEveryGetRouteAnswersHead),
		// implied by HTTP rather than documented per operation.
		if !strings.HasPrefix(rt.Path, "/v2/") || rt.Method == "echo_route_not_found" || rt.Method == "HEAD" {
			continue
		}
		path := rt.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		registered = append(registered, strings.ToLower(rt.Method)+" "+path)
	}
	slices.Sort(registered)
	registered = slices.Compact(registered)
	if len(registered) < 6 {
		t.Fatalf("only %d /v2 routes found: %v", len(registered), registered)
	}
	for _, op := range registered {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is not in openapi.yaml", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(registered, op) {
			t.Errorf("openapi.yaml documents %s, which is not a route", op)
		}
	}
}

// openAPIOperations reads "method path" pairs from the document's paths
// section (two-space indented paths, four-space indented methods).
func openAPIOperations(t *testing.T, doc string) []string {
	t.Helper()
	var ops []string
	inPaths := false
	path := ""
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && !strings.HasPrefix(line, " "):
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case inPaths && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			if m := strings.TrimSuffix(strings.TrimSpace(line), ":"); slices.Contains(methods, m) {
				ops = append(ops, m+" "+path)
			}
		}
	}
	slices.Sort(ops)
	if len(ops) == 0 {
		t.Fatal("no operations found in openapi.yaml")
	}
	return ops
}
