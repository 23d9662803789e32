package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/models/apiauth"
	"keydesk/models/keys"
)

// openAPIDocument describes every route under /v2 (a test keeps it true).
//
//go:embed openapi.yaml
var openAPIDocument []byte

// apiRoutes registers the REST and UI (JWT) API under /v2 and builds what
// it runs on: the key verifier and its cache, the last-used recorder, the
// rate limiter, the failed-authentication limiter. Start and Close (background.go) run their background work.
func (s *Server) apiRoutes(g *echo.Group, cfg APIConfig) {
	rt := newAPIRuntime(cfg, s.Stores, s.logger)
	s.api = rt
	s.Handlers.SetReadinessDetails(rt.readiness)
	handler := api.New(s.Stores.Members, rt.verifier, rt.keyLimiter(), rt.failures, LogKeyIdentifier)
	handler.CountUsage(rt.counts)

	g.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", openAPIDocument)
	})

	// Middleware per route rather than per group: a group's middleware
	// would also register catch-all routes under its prefix.
	// Each route names the permission a restricted key needs (openapi.yaml
	// declares the same, x-keydesk-permission; a test keeps them equal).
	read := func(p keys.Permission) []echo.MiddlewareFunc {
		return []echo.MiddlewareFunc{handler.NoStore, handler.RequireAPIKey, handler.Require(p), handler.RateLimit(apiauth.RateRead)}
	}
	write := func(p keys.Permission) []echo.MiddlewareFunc {
		return []echo.MiddlewareFunc{handler.NoStore, handler.RequireAPIKey, handler.Require(p), handler.RateLimit(apiauth.RateWrite)}
	}
	ui := func(p keys.Permission) []echo.MiddlewareFunc {
		return []echo.MiddlewareFunc{handler.NoStore, handler.RequireUIToken, handler.Require(p), handler.RateLimit(apiauth.RateRead)}
	}

	loyalty := g.Group("/loyalty")
	loyalty.GET("/program", handler.Program, read(keys.PermProgramRead)...)
	loyalty.GET("/members", handler.ListMembers, read(keys.PermMembersRead)...)
	loyalty.POST("/members", handler.CreateMember, write(keys.PermMembersWrite)...)
	loyalty.GET("/members/:member_id", handler.GetMember, read(keys.PermMembersRead)...)
	loyalty.GET("/ui/member", handler.UIMember, ui(keys.PermMembersRead)...)
}
