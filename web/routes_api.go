package web

import "github.com/labstack/echo/v4"

// apiRoutes registers the REST and UI (JWT) API under /v2.
func (s *Server) apiRoutes(g *echo.Group) {
	_ = g
}
