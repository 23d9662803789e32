package web

import (
	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/models/managementkeys"
	"keydesk/web/paths"
)

// manageRoutes registers the management API under /v2/manage: a Bearer
// management key (kdm_…), the scope each route needs (openapi.yaml declares
// the same as x-required-scope; a test keeps them equal), and on POST the
// Idempotency-Key replay.
func (s *Server) manageRoutes(g routeSet) {
	rt := s.api
	m := api.NewManage(api.ManageDeps{
		Keys: s.Stores.Keys, ManagementKeys: s.Stores.ManagementKeys, Usage: s.Stores.Usage, Audit: s.Stores.Audit,
		Verifier: rt.management, Failures: rt.failures, Now: s.Stores.Clock,
	})
	read := func(scope managementkeys.Scope, h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(scope))
	}
	write := func(h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(managementkeys.ScopeKeysWrite))
	}
	post := func(h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, m.RequireManagementKey, m.RequireScope(managementkeys.ScopeKeysWrite), m.Idempotent)
	}

	manage := g.Group("/manage")
	manage.GET("/keys", read(managementkeys.ScopeKeysRead, m.ListKeys))
	manage.POST("/keys", post(m.CreateKey))
	manage.GET("/keys/:identifier", read(managementkeys.ScopeKeysRead, m.GetKey))
	manage.PATCH("/keys/:identifier", write(m.PatchKey))
	manage.DELETE("/keys/:identifier", write(m.DeleteKey))
	manage.POST("/keys/:identifier/roll", post(m.RollKey))
	manage.POST("/keys/:identifier/inactivate", post(m.InactivateKey))
	manage.POST("/keys/:identifier/activate", post(m.ActivateKey))
	manage.GET("/keys/:identifier/usage", read(managementkeys.ScopeUsageRead, m.KeyUsage))
	manage.GET("/audit", read(managementkeys.ScopeAuditRead, m.ListAudit))
}

// manageConsoleRoutes registers General » Management keys (full-access
// admins; creation is password-gated).
func (s *Server) manageConsoleRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(paths.ManagementKeys), h.ManagementKeys)
	full.GET(general(paths.NewManagementKey), h.NewManagementKeyDialog)
	full.POST(general(paths.ManagementKeys), h.CreateManagementKey)
	full.GET(general(paths.ManagementKeyRevokeRoute), h.ConfirmRevokeManagementKey)
	full.POST(general(paths.ManagementKeyRevokeRoute), h.RevokeManagementKey)
}
