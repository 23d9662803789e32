package routes_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/labstack/echo/v4"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/routes"
	"keydesk/web"
)

// table reads the route table as written in table.go: each constant's
// name and pattern.
func table(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "table.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Errorf("table.go: %s is not written out as one string literal", name.Name)
					continue
				}
				pattern, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				patterns[name.Name] = pattern
			}
		}
	}
	if len(patterns) == 0 {
		t.Fatal("table.go holds no route")
	}
	return patterns
}

// newServer builds the whole server (web.New, every route registered),
// without starting it.
func newServer(t *testing.T) *echo.Echo {
	t.Helper()
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	srv, err := web.New(config.Default(modeltest.MasterKey), store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return srv.Echo
}

// Issue 22 item 4: the router registers exactly the table's patterns,
// each table line once.
func TestRouteTable(t *testing.T) {
	patterns := table(t)
	inTable := map[string]string{}
	for name, pattern := range patterns {
		if other, dup := inTable[pattern]; dup {
			t.Errorf("%s and %s are both %q", name, other, pattern)
		}
		inTable[pattern] = name
	}
	registered := map[string][]string{}
	for _, r := range newServer(t).Routes() {
		registered[r.Path] = append(registered[r.Path], r.Method)
	}
	for pattern, methods := range registered {
		if _, ok := inTable[pattern]; !ok {
			t.Errorf("%v %s is registered but not in the route table", methods, pattern)
		}
	}
	for pattern, name := range inTable {
		if _, ok := registered[pattern]; !ok {
			t.Errorf("%s (%s) is in the route table but not registered", name, pattern)
		}
	}
	// Every GET route has its HEAD twin (routeSet registers both).
	for pattern, methods := range registered {
		if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
			t.Errorf("GET %s has no HEAD twin", pattern)
		}
	}
}

// Issue 22 item 4: every URL builder makes the URL it always made, and the
// router matches it to the builder's own route with its parameters.
func TestRouteBuilders(t *testing.T) {
	e := newServer(t)
	for _, tc := range []struct {
		url     string
		method  string
		pattern string
		want    string // the URL, written out: no URL changes
		params  map[string]string
	}{
		{routes.Invite("ABC234"), http.MethodPost, routes.InviteRoute, "/invite/ABC234", map[string]string{"token": "ABC234"}},
		{routes.AccountPasskeyRename(7), http.MethodGet, routes.AccountPasskeyRenameRoute, "/account/passkeys/7/rename", map[string]string{"id": "7"}},
		{routes.AccountPasskeyRename(7), http.MethodPost, routes.AccountPasskeyRenameRoute, "/account/passkeys/7/rename", map[string]string{"id": "7"}},
		{routes.AccountPasskeyRemove(7), http.MethodGet, routes.AccountPasskeyRemoveRoute, "/account/passkeys/7/remove", map[string]string{"id": "7"}},
		{routes.AccountPasskeyRemove(7), http.MethodPost, routes.AccountPasskeyRemoveRoute, "/account/passkeys/7/remove", map[string]string{"id": "7"}},
		{routes.APIKeyEdit(42), http.MethodGet, routes.APIKeyEditRoute, "/general/api-keys/42/edit", map[string]string{"id": "42"}},
		{routes.APIKeyEdit(42), http.MethodPost, routes.APIKeyEditRoute, "/general/api-keys/42/edit", map[string]string{"id": "42"}},
		{routes.APIKeyReveal(42), http.MethodPost, routes.APIKeyRevealRoute, "/general/api-keys/42/reveal", map[string]string{"id": "42"}},
		{routes.APIKeyCopy(42), http.MethodPost, routes.APIKeyCopyRoute, "/general/api-keys/42/copy", map[string]string{"id": "42"}},
		{routes.APIKeyInactivate(42), http.MethodPost, routes.APIKeyInactivateRoute, "/general/api-keys/42/inactivate", map[string]string{"id": "42"}},
		{routes.APIKeyActivate(42), http.MethodPost, routes.APIKeyActivateRoute, "/general/api-keys/42/activate", map[string]string{"id": "42"}},
		{routes.APIKeyDelete(42), http.MethodPost, routes.APIKeyDeleteRoute, "/general/api-keys/42/delete", map[string]string{"id": "42"}},
		{routes.APIKeyRoll(42), http.MethodPost, routes.APIKeyRollRoute, "/general/api-keys/42/roll", map[string]string{"id": "42"}},
		{routes.APIKeyExpireOld(42), http.MethodPost, routes.APIKeyExpireOldRoute, "/general/api-keys/42/expire-old", map[string]string{"id": "42"}},
		{routes.APIKeyUsage(42), http.MethodGet, routes.APIKeyUsageRoute, "/general/api-keys/42/usage", map[string]string{"id": "42"}},
		{routes.ManagementKeyRevoke(42), http.MethodPost, routes.ManagementKeyRevokeRoute, "/general/management-keys/42/revoke", map[string]string{"id": "42"}},
		{routes.WebhookEndpoint(3), http.MethodGet, routes.WebhookEndpointRoute, "/general/webhooks/3", map[string]string{"id": "3"}},
		{routes.WebhookTest(3), http.MethodPost, routes.WebhookTestRoute, "/general/webhooks/3/test", map[string]string{"id": "3"}},
		{routes.WebhookRotate(3), http.MethodPost, routes.WebhookRotateRoute, "/general/webhooks/3/rotate", map[string]string{"id": "3"}},
		{routes.WebhookDelete(3), http.MethodPost, routes.WebhookDeleteRoute, "/general/webhooks/3/delete", map[string]string{"id": "3"}},
		{routes.WebhookDelivery(3, 9), http.MethodGet, routes.WebhookDeliveryRoute, "/general/webhooks/3/deliveries/9", map[string]string{"id": "3", "delivery": "9"}},
		{routes.WebhookDeliveryRetry(3, 9), http.MethodPost, routes.WebhookDeliveryRetryRoute, "/general/webhooks/3/deliveries/9/retry", map[string]string{"id": "3", "delivery": "9"}},
		{routes.AdminAccess(5), http.MethodPost, routes.AdminAccessRoute, "/general/admins/5/access", map[string]string{"id": "5"}},
		{routes.AdminRemove(5), http.MethodPost, routes.AdminRemoveRoute, "/general/admins/5/remove", map[string]string{"id": "5"}},
		{routes.InvitationRevoke(6), http.MethodPost, routes.InvitationRevokeRoute, "/general/admins/invitations/6/revoke", map[string]string{"id": "6"}},
		// A static segment beside a parameter: new is its own route.
		{routes.NewAPIKey, http.MethodGet, routes.NewAPIKey, "/general/api-keys/new", nil},
	} {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			if tc.url != tc.want {
				t.Errorf("built %q, want %q", tc.url, tc.want)
			}
			c := e.NewContext(httptest.NewRequest(tc.method, tc.url, nil), httptest.NewRecorder())
			e.Router().Find(tc.method, tc.url, c)
			if c.Path() != tc.pattern {
				t.Fatalf("router matched %q, want %q", c.Path(), tc.pattern)
			}
			for name, want := range tc.params {
				if got := c.Param(name); got != want {
					t.Errorf("param %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

// Reverse escapes each parameter as one path segment, so a value cannot
// reach another route, and refuses a wrong number of parameters.
func TestRouteReverse(t *testing.T) {
	if got, want := routes.Reverse(routes.InviteRoute, "a/../b c?d"), "/invite/a%2F..%2Fb%20c%3Fd"; got != want {
		t.Errorf("Reverse = %q, want %q", got, want)
	}
	if got, want := routes.Reverse(routes.APIKeys), routes.APIKeys; got != want {
		t.Errorf("Reverse without parameters = %q, want %q", got, want)
	}
	for _, params := range [][]string{{}, {"1", "2", "3"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Reverse(%s, %q) did not panic", routes.WebhookDeliveryRetryRoute, params)
				}
			}()
			routes.Reverse(routes.WebhookDeliveryRetryRoute, params...)
		}()
	}
}
