// Package web assembles the HTTP server: Echo, the middleware chain
// (request ids, logging, security headers, sessions, CSRF, authorisation),
// the error handler and every route.
package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	gsessions "github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"keydesk/handlers"
	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/sessions"
	"keydesk/static"
)

// Server is a configured keydesk HTTP server.
type Server struct {
	Echo     *echo.Echo
	Stores   *models.Stores
	Handlers *handlers.Handler
	logger   *slog.Logger
	api      *apiRuntime
	sessions *sessions.Store

	auditCheckpoints auditCheckpointWriter
}

// deriveKey derives a purpose-bound key from the master key, so instances
// sharing a master key share session cookie keys too.
func deriveKey(master []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, master)
	mac.Write([]byte("keydesk " + purpose))
	return mac.Sum(nil)
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 64 << 10

// New builds the server around a migrated store.
func New(cfg Config, stores *models.Stores, logger *slog.Logger) *Server {
	sessionStore := stores.NewSessionStore(gsessions.Options{
		Path:     "/",
		MaxAge:   int(handlers.SessionMaxLifetime.Seconds()),
		HttpOnly: true,
		Secure:   cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}, deriveKey(cfg.MasterKey, "session cookie hash"), deriveKey(cfg.MasterKey, "session cookie block"))
	h := handlers.New(stores, sessionStore, logger, cfg.ReauthWindow)

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{Echo: e, Stores: stores, Handlers: h, logger: logger, sessions: sessionStore,
		auditCheckpoints: auditCheckpointWriter{path: cfg.AuditCheckpointFile, interval: cfg.AuditCheckpointInterval}}
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = echo.ExtractIPDirect()

	e.Pre(assignRequestID)
	e.Use(s.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		logger.Error("panic", "error", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "stack", string(stack))
		return err
	}}))
	e.Use(securityHeaders(cfg.SecureCookies))
	e.Use(middleware.BodyLimit("64K"))

	s.routes(cfg)
	return s
}

func (s *Server) routes(cfg Config) {
	e, h := s.Echo, s.Handlers

	e.GET("/healthz", h.Healthz)
	e.GET("/readyz", h.Readyz)
	e.GET("/static/*", staticHandler())

	// The console: sessions and CSRF on every route, pages and fragments,
	// and on no other path (a routeSet adds no catch-all routes).
	console := newRouteSet(e, "", h.LoadSession, h.CSRF)
	console.GET("/login", h.ShowLogin)
	console.POST("/login", h.Login)
	console.POST("/logout", h.Logout)

	signedIn := console.Group("", h.RequireAdmin)
	signedIn.GET("/", h.Home)
	signedIn.POST("/session/program", h.SwitchProgram)
	signedIn.GET("/general/no-access", h.NoAccess)

	full := signedIn.Group("/general", h.RequireFullAccess)
	full.GET("/settings", h.Settings)
	full.POST("/reauth", h.Reauthenticate)
	full.GET("/api-keys", h.ListAPIKeys)
	full.GET("/api-keys/new", h.NewAPIKeyDialog)
	full.POST("/api-keys", h.GenerateAPIKey)
	full.GET("/api-keys/:id/edit", h.EditAPIKeyDialog)
	full.POST("/api-keys/:id/edit", h.UpdateAPIKey)
	full.POST("/api-keys/:id/reveal", h.RevealAPIKey)
	full.POST("/api-keys/:id/copy", h.CopyAPIKey)
	full.GET("/api-keys/:id/inactivate", h.ConfirmInactivateDialog)
	full.POST("/api-keys/:id/inactivate", h.InactivateAPIKey)
	full.POST("/api-keys/:id/activate", h.ActivateAPIKey)
	full.GET("/api-keys/:id/delete", h.ConfirmDeleteDialog)
	full.POST("/api-keys/:id/delete", h.DeleteAPIKey)

	s.auditTrailRoutes(signedIn.Group("/general/audit-trail", h.RequireModule(accounts.ModuleAuditTrail)))
	s.apiRoutes(e.Group("/v2"), cfg.API)
}

// staticHandler serves the embedded assets. A directory is a 404, never a
// listing of its files (nor a redirect to one).
func staticHandler() echo.HandlerFunc {
	files := http.FileServer(http.FS(static.FS))
	return func(c echo.Context) error {
		name := path.Clean("/" + c.Param("*"))
		if fi, err := fs.Stat(static.FS, strings.TrimPrefix(name, "/")); err != nil || fi.IsDir() || strings.HasSuffix(c.Param("*"), "/") {
			return echo.ErrNotFound
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		req := c.Request()
		req.URL.Path = name
		files.ServeHTTP(c.Response(), req)
		return nil
	}
}
