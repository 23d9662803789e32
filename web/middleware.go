package web

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

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
		if id, ok := api.ManagementKeyIdentifier(c); ok {
			attrs = append(attrs, "management_key_identifier", id)
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

// headWithoutBody answers a HEAD request as its GET without the body. The
// router sends HEAD to the GET route's own handler (routeSet.GET registers
// both); the handler, or the error handler, writes as for GET, and the
// body is counted and dropped here: the response carries the GET's status
// and headers, with Content-Length the body's length when the handler did
// not set one. It wraps logRequests, whose c.Error writes error responses,
// so those lose their body too.
func headWithoutBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method != http.MethodHead {
			return next(c)
		}
		res := c.Response()
		w := &headResponseWriter{ResponseWriter: res.Writer}
		res.Writer = w
		defer func() { res.Writer = w.ResponseWriter }()
		if err := next(c); err != nil {
			c.Error(err)
		}
		w.finish()
		return nil
	}
}

// headResponseWriter holds the status back until the handler is done, so
// that Content-Length can be the length of the body it wrote, and drops
// the body.
type headResponseWriter struct {
	http.ResponseWriter
	status    int
	bodyBytes int64
}

func (w *headResponseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *headResponseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.bodyBytes += int64(len(b))
	return len(b), nil
}

// Flush sends nothing early: the headers wait for the body's length.
func (w *headResponseWriter) Flush() {}

func (w *headResponseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the held status and headers.
func (w *headResponseWriter) finish() {
	if w.status == 0 {
		return
	}
	if w.bodyBytes > 0 && w.Header().Get(echo.HeaderContentLength) == "" {
		w.Header().Set(echo.HeaderContentLength, strconv.FormatInt(w.bodyBytes, 10))
	}
	w.ResponseWriter.WriteHeader(w.status)
}

// compressPublicBodies gzips a response for a client that accepts it
// (Vary: Accept-Encoding). It is given only to routes whose bodies are
// public and the same for everyone, the static assets and the OpenAPI
// document: compressing a page or an API answer that holds a secret (a
// CSRF token, an API key) beside text an attacker chooses would let the
// attacker read the secret from the compressed length (BREACH). A range
// request is answered uncompressed, its byte ranges being those of the
// file.
func compressPublicBodies() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		MinLength: 1024,
		Skipper:   func(c echo.Context) bool { return c.Request().Header.Get("Range") != "" },
	})
}
