package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
	"keydesk/models/apiauth"
	"keydesk/models/keys"
	"keydesk/routes"
)

// openAPIDocument describes every route under /v2 (a test keeps it true).
//
//go:embed openapi.yaml
var openAPIDocument []byte

// v2 is a pattern of the route table relative to the API's route set,
// whose prefix is routes.API (/v2).
func v2(pattern string) string { return under(routes.API, pattern) }

// apiRoutes registers the REST and UI (JWT) API under /v2 over what New
// built for it (apiRuntime: the key verifier and its cache, the last-used
// recorder, the rate limiter, the failed-authentication limiter; Start and
// Close, in background.go, run their background work).
func (s *Server) apiRoutes(g routeSet) {
	rt := s.api
	handler := api.New(api.Deps{Members: s.Stores.Members, Verifier: rt.verifier, Limiter: rt.keyLimiter(), Failures: rt.failures, Usage: rt.counts, Quotas: rt.quotas})

	g.Group("", compressPublicBodies()).GET(v2(routes.APIOpenAPI), func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/yaml; charset=utf-8", openAPIDocument)
	})

	// Middleware chained per route rather than given to the routeSet: each
	// chain is built once, here, where Echo v4 would wrap a route's
	// middleware around its handler again on every request.
	// Responses are not cached: the server sends Cache-Control: no-store
	// on every response.
	// Each route names the permission a restricted key needs (openapi.yaml
	// declares the same, x-keydesk-permission; a test keeps them equal).
	read := func(p keys.Permission, h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, handler.RequireAPIKey, handler.Require(p), handler.RateLimit(apiauth.RateRead))
	}
	write := func(p keys.Permission, h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, handler.RequireAPIKey, handler.Require(p), handler.RateLimit(apiauth.RateWrite))
	}
	ui := func(p keys.Permission, h echo.HandlerFunc) echo.HandlerFunc {
		return chain(h, handler.RequireUIToken, handler.Require(p), handler.RateLimit(apiauth.RateRead))
	}

	g.GET(v2(routes.APIProgram), read(keys.PermProgramRead, handler.Program))
	g.GET(v2(routes.APIMembers), read(keys.PermMembersRead, handler.ListMembers))
	g.POST(v2(routes.APIMembers), write(keys.PermMembersWrite, handler.CreateMember))
	g.GET(v2(routes.APIMemberRoute), read(keys.PermMembersRead, handler.GetMember))
	g.GET(v2(routes.APIUIMember), ui(keys.PermMembersRead, handler.UIMember))

	s.manageRoutes(g)
}

// chain wraps h in middleware, the first outermost.
func chain(h echo.HandlerFunc, middleware ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	return h
}
