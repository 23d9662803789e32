package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/api"
)

// contentSecurityPolicy allows nothing inline: scripts and styles come only
// from /static.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// strictTransportSecurity is the HSTS header sent with secure cookies: two
// years, subdomains included (the preload list's minimum).
const strictTransportSecurity = "max-age=63072000; includeSubDomains"

func securityHeaders(hsts bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h.Set("Content-Security-Policy", contentSecurityPolicy)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			h.Set("Cross-Origin-Opener-Policy", "same-origin")
			h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
			h.Set("Cache-Control", "no-store")
			if hsts {
				h.Set("Strict-Transport-Security", strictTransportSecurity)
			}
			return next(c)
		}
	}
}

// logRequests writes one structured line per request: method, route, status,
// duration and request id; never a header value, a query string or a body,
// so neither keys nor cookies reach the logs.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		attrs := make([]any, 0, 16) // room for the optional attributes too
		attrs = append(attrs,
			"method", c.Request().Method,
			"route", c.Path(),
			"status", status,
			"duration_ms", float64(time.Since(start).Microseconds())/1000,
			"request_id", c.Response().Header().Get(echo.HeaderXRequestID),
			"ip", c.RealIP(),
		)
		if err != nil && status >= 500 {
			attrs = append(attrs, "error", err.Error())
		}
		if id, ok := api.KeyIdentifier(c); ok {
			attrs = append(attrs, "key_identifier", id)
		}
		s.logger.Log(c.Request().Context(), level, "request", attrs...)
		return nil
	}
}

// assignRequestID gives every request a fresh id (a client-sent X-Request-ID
// is ignored: it is a header value, and header values never reach the logs).
func assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		c.Response().Header().Set(echo.HeaderXRequestID, hex.EncodeToString(b))
		return next(c)
	}
}
