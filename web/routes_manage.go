package web

import (
	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/models/managementkeys"
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
