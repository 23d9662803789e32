package web

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// routeSet registers routes under a prefix with its middleware attached to
// each route. An echo.Group given middleware also registers catch-all
// routes ("prefix" and "prefix/*") carrying that middleware, so every
// unknown path ("/nope", "/v2/nope") would run the console's session and
// CSRF middleware and get its cookies. A routeSet registers only the
// routes it is given: an unknown path is the router's plain 404, and a
// known path asked with the wrong method its 405.
type routeSet struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

func newRouteSet(e *echo.Echo, prefix string, mw ...echo.MiddlewareFunc) routeSet {
	return routeSet{e: e, prefix: prefix, mw: mw}
}

// Group returns a routeSet under prefix whose routes run r's middleware,
// then mw.
func (r routeSet) Group(prefix string, mw ...echo.MiddlewareFunc) routeSet {
	return routeSet{e: r.e, prefix: r.prefix + prefix, mw: append(slices.Clone(r.mw), mw...)}
}

// GET registers a GET route and its HEAD twin, the same handler behind
// the same middleware (RFC 9110 requires HEAD wherever GET is served;
// Echo's router does not map it by itself, and headWithoutBody drops the
// body). Each route gets its own copy of the middleware slice.
func (r routeSet) GET(path string, h echo.HandlerFunc) *echo.Route {
	r.e.HEAD(r.prefix+path, h, slices.Clone(r.mw)...)
	return r.e.GET(r.prefix+path, h, slices.Clone(r.mw)...)
}

// POST registers a POST route.
func (r routeSet) POST(path string, h echo.HandlerFunc) *echo.Route {
	return r.e.POST(r.prefix+path, h, slices.Clone(r.mw)...)
}

// under returns path relative to a group's prefix, for registering a
// route of the table on a routeSet with that prefix. It panics if path is
// not below prefix: a programming error found at start-up.
func under(prefix, path string) string {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		panic("web: route " + path + " is not below " + prefix)
	}
	return rest
}

// PATCH registers a PATCH route.
func (r routeSet) PATCH(path string, h echo.HandlerFunc) *echo.Route {
	return r.e.PATCH(r.prefix+path, h, slices.Clone(r.mw)...)
}

// DELETE registers a DELETE route.
func (r routeSet) DELETE(path string, h echo.HandlerFunc) *echo.Route {
	return r.e.DELETE(r.prefix+path, h, slices.Clone(r.mw)...)
}
