package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers"
	"keydesk/models"
)

// openAPIDocument describes every route under /v2 (a test keeps it true).
//
//go:embed openapi.yaml
var openAPIDocument []byte

// apiRoutes registers the REST and UI (JWT) API under /v2 and builds what
// it runs on: the key verifier and its cache, the last-used recorder, the
// rate limiter. Start and Close (background.go) run their background work.
func (s *Server) apiRoutes(g *echo.Group) {
	rt := newAPIRuntime(s.Store)
	s.api = rt
	api := handlers.NewAPI(s.Store, rt.verifier, rt.limiter, LogKeyIdentifier)

	g.GET("/openapi.yaml", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", openAPIDocument)
	})

	// Middleware per route rather than per group: a group's middleware
	// would also register catch-all routes under its prefix.
	read := []echo.MiddlewareFunc{api.NoStore, api.RequireAPIKey, api.RateLimit(models.RateRead)}
	write := []echo.MiddlewareFunc{api.NoStore, api.RequireAPIKey, api.RateLimit(models.RateWrite)}
	ui := []echo.MiddlewareFunc{api.NoStore, api.RequireUIToken, api.RateLimit(models.RateRead)}

	loyalty := g.Group("/loyalty")
	loyalty.GET("/program", api.Program, read...)
	loyalty.GET("/members", api.ListMembers, read...)
	loyalty.POST("/members", api.CreateMember, write...)
	loyalty.GET("/members/:member_id", api.GetMember, read...)
	loyalty.GET("/ui/member", api.UIMember, ui...)
}
