package web

import (
	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/models/managementkeys"
	"keydesk/routes"
)

// manageRoutes registers the management API under /v2/manage: a Bearer
// management key (kdm_…), the scope each route needs (openapi.yaml declares
// the same as x-required-scope; a test keeps them equal), and on POST the
// Idempotency-Key replay; each call past the scope check spends one of the
// management key's calls a minute (KEYDESK_MANAGE_LIMIT).
func (s *Server) manageRoutes(g routeSet) {
	rt := s.api
	m := api.NewManage(api.ManageDeps{
		Keys: s.Stores.Keys, ManagementKeys: s.Stores.ManagementKeys, Usage: s.Stores.Usage, Audit: s.Stores.Audit,
		Verifier: rt.management, Failures: rt.failures, Limits: rt.manageLimits, Now: s.Stores.Clock,
	})
	read := func(scope managementkeys.Scope, h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(scope), m.RateLimit)
	}
	write := func(h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(managementkeys.ScopeKeysWrite), m.RateLimit)
	}
	post := func(h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(managementkeys.ScopeKeysWrite), m.RateLimit, m.Idempotent)
	}

	g.GET(v2(routes.ManageKeys), read(managementkeys.ScopeKeysRead, m.ListKeys))
	g.POST(v2(routes.ManageKeys), post(m.CreateKey))
	g.GET(v2(routes.ManageKeyRoute), read(managementkeys.ScopeKeysRead, m.GetKey))
	g.PATCH(v2(routes.ManageKeyRoute), write(m.PatchKey))
	g.DELETE(v2(routes.ManageKeyRoute), write(m.DeleteKey))
	g.POST(v2(routes.ManageKeyRollRoute), post(m.RollKey))
	g.POST(v2(routes.ManageKeyInactivateRoute), post(m.InactivateKey))
	g.POST(v2(routes.ManageKeyActivateRoute), post(m.ActivateKey))
	g.GET(v2(routes.ManageKeyUsageRoute), read(managementkeys.ScopeUsageRead, m.KeyUsage))
	g.GET(v2(routes.ManageAudit), read(managementkeys.ScopeAuditRead, m.ListAudit))
}

// manageConsoleRoutes registers General » Management keys (full-access
// admins; creation is password-gated).
func (s *Server) manageConsoleRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(routes.ManagementKeys), h.ManagementKeys)
	full.GET(general(routes.NewManagementKey), h.NewManagementKeyDialog)
	full.POST(general(routes.ManagementKeys), h.CreateManagementKey)
	full.GET(general(routes.ManagementKeyRevokeRoute), h.ConfirmRevokeManagementKey)
	full.POST(general(routes.ManagementKeyRevokeRoute), h.RevokeManagementKey)
}
