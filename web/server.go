// Package web assembles the HTTP server: Echo, the middleware chain
// (request ids, logging, security headers, sessions, CSRF, authorisation),
// the error handler and every route.
package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"

	gsessions "github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"keydesk/config"
	"keydesk/handlers"
	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/sessions"
	"keydesk/routes"
	"keydesk/static"
	"keydesk/web/notify"
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
	webhooks         *notify.Worker
	metrics          *metricsListener
	extraCollectors  []prometheus.Collector
	leaks            leakConfig
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

// New builds the server around a migrated store, each part given what it
// works with. A KEYDESK_BASE_URL that cannot be the passkeys' relying
// party is an error here, so a bad value stops the start rather than
// answering every passkey request 409. Unset, the console runs on the
// default http://127.0.0.1:8080 without passkeys, as it says. The stores'
// outbox must have been built with OutboxOptions(cfg).
func New(cfg config.Options, stores *models.Stores, logger *slog.Logger) (*Server, error) {
	relyingParty, passkeysOff := handlers.NewRelyingParty(cfg.PublicURL())
	if passkeysOff != nil && cfg.BaseURL != "" {
		return nil, fmt.Errorf("KEYDESK_BASE_URL %q cannot carry passkeys (%v): set it to the URL browsers use, on a host name, such as https://keys.example.com or http://localhost:8080", cfg.BaseURL, passkeysOff)
	}
	sessionStore := stores.NewSessionStore(gsessions.Options{
		Path:     "/",
		MaxAge:   int(handlers.SessionMaxLifetime.Seconds()),
		HttpOnly: true,
		Secure:   cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	}, deriveKey(cfg.MasterKey, "session cookie hash"), deriveKey(cfg.MasterKey, "session cookie block"))

	mailer, mail := newMailer(cfg, logger)
	if got, want := stores.Outbox.Options(), OutboxOptions(cfg); got != want {
		return nil, fmt.Errorf("web: the stores' outbox was built with %+v, the configuration asks for %+v: build the stores with web.OutboxOptions(cfg)", got, want)
	}
	webhooks := notify.NewWorker(stores.Outbox, cfg.Events.Webhooks, mailer, stores.Clock, logger)
	api := newAPIRuntime(cfg.API, stores, logger)
	h := handlers.New(handlers.Deps{
		Stores:       stores,
		Sessions:     sessionStore,
		Logger:       logger,
		ReauthWindow: cfg.ReauthWindow,
		BaseURL:      cfg.PublicURL(),
		RelyingParty: relyingParty,
		PasskeysOff:  passkeysOff,
		WakeWebhooks: webhooks.Wake,
		Mail:         mail,
		Readiness:    api.readiness,
		// The usage recorder flushes on the last-used tick (background.go).
		UsageFlushInterval: cfg.API.LastUsedInterval,
		SSO:                ssoOptions(cfg.Events.Webhooks.AllowPrivate),
		QuotaUsed:          api.quotas.Used,
		FailedAuth:         api.failures,
	})

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	s := &Server{Echo: e, Stores: stores, Handlers: h, logger: logger, sessions: sessionStore, api: api, webhooks: webhooks,
		auditCheckpoints: auditCheckpointWriter{path: cfg.AuditCheckpointFile, interval: cfg.AuditCheckpointInterval},
		metrics:          &metricsListener{addr: cfg.MetricsAddr},
		leaks:            newLeakConfig(cfg, stores.Clock)}
	e.HTTPErrorHandler = s.handleError
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)

	e.Pre(assignRequestID)
	e.Use(headWithoutBody)
	e.Use(observeRequests)
	e.Use(s.logRequests)
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisableStackAll: true, LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
		logger.Error("panic", "error", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "stack", string(stack))
		return err
	}}))
	e.Use(securityHeaders(cfg.SecureCookies))
	// A secret-scanning alert may be larger (its handler bounds it).
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: "64K",
		Skipper: func(c echo.Context) bool { return c.Path() == routes.APISecretScanningGitHub }}))

	if err := s.routes(); err != nil {
		return nil, err
	}
	return s, nil
}

// routes registers every route on the server's parts; it builds nothing
// they depend on.
func (s *Server) routes() error {
	e, h := s.Echo, s.Handlers

	public := newRouteSet(e, "")
	public.GET(routes.Healthz, h.Healthz)
	public.GET(routes.Readyz, h.Readyz)
	public.Group("", compressPublicBodies()).GET(routes.Static, staticHandler())

	// The console: sessions and CSRF on every route, pages and fragments,
	// and on no other path (a routeSet adds no catch-all routes). Routes
	// for signed-in admins ask for a live session before the CSRF token: a
	// request from a page whose session has ended (signed out in another
	// tab, expired) carries a token that went with the session, and is
	// sent to sign in again, not refused as a forged form.
	sessions := newRouteSet(e, "", h.LoadSession)
	console := sessions.Group("", h.CSRF)
	console.GET(routes.Login, h.ShowLogin)
	console.POST(routes.Login, h.Login)
	sessions.Group("", h.SignedOutAlready, h.CSRF).POST(routes.Logout, h.Logout)

	console.GET(routes.LoginCode, h.ShowLoginCode)
	console.POST(routes.LoginCode, h.LoginCode)
	console.GET(routes.InviteRoute, h.ShowInvite)
	console.POST(routes.InviteRoute, h.AcceptInvite)
	s.passkeySignInRoutes(console)
	s.ssoSignInRoutes(console)

	// /account (and switching programs) stays open to an admin whom the
	// program's two-factor policy sends there; every other signed-in route
	// requires the second factor set up first.
	account := sessions.Group("", h.RequireAdmin, h.CSRF)
	s.accountRoutes(account)
	s.passkeyAccountRoutes(account)
	account.POST(routes.SwitchProgram, h.SwitchProgram)

	signedIn := sessions.Group("", h.RequireAdmin, h.CSRF, h.RequireTwoFactorSetup, s.wakeWebhooksAfterWrites)
	signedIn.GET(routes.Home, h.Home)
	signedIn.GET(routes.NoAccess, h.NoAccess)
	// The step-ups (password, passkey, authenticator code, identity
	// provider) are open to every signed-in admin: a confirmation unlocks
	// nothing by itself, each action it allows keeps its own role check,
	// and an admin's own account (Regenerate recovery codes) needs one too.
	s.stepUpRoutes(signedIn)

	// The group keeps its prefix, so RequireFullAccess answers unknown paths
	// below /general too; each route names its full path.
	full := signedIn.Group(routes.General, h.RequireFullAccess)
	general := func(path string) string { return under(routes.General, path) }
	full.GET(general(routes.Settings), h.Settings)
	// The list and every action that answers with the keys panel carry each
	// row's requests in the last 24 hours.
	full.GET(general(routes.APIKeys), h.WithRequests24h(h.ListAPIKeys))
	full.GET(general(routes.Webhooks), h.Webhooks)
	full.POST(general(routes.Webhooks), h.CreateWebhook)
	full.GET(general(routes.WebhookEndpointRoute), h.WebhookEndpoint)
	full.POST(general(routes.WebhookEndpointRoute), h.UpdateWebhook)
	full.POST(general(routes.WebhookTestRoute), h.TestWebhook)
	full.POST(general(routes.WebhookRotateRoute), h.RotateWebhookSecret)
	full.GET(general(routes.WebhookDeleteRoute), h.ConfirmDeleteWebhook)
	full.POST(general(routes.WebhookDeleteRoute), h.DeleteWebhook)
	full.POST(general(routes.WebhookDeliveryRetryRoute), h.RetryWebhookDelivery)
	full.GET(general(routes.WebhookDeliveryRoute), h.WebhookDelivery)
	full.GET(general(routes.NewAPIKey), h.NewAPIKeyDialog)
	full.POST(general(routes.APIKeys), h.WithRequests24h(h.GenerateAPIKey))
	full.GET(general(routes.APIKeyEditRoute), h.EditAPIKeyDialog)
	full.POST(general(routes.APIKeyEditRoute), h.WithRequests24h(h.UpdateAPIKey))
	full.POST(general(routes.APIKeyRevealRoute), h.RevealAPIKey)
	full.POST(general(routes.APIKeyCopyRoute), h.CopyAPIKey)
	full.GET(general(routes.APIKeyInactivateRoute), h.ConfirmInactivateDialog)
	full.POST(general(routes.APIKeyInactivateRoute), h.WithRequests24h(h.InactivateAPIKey))
	full.POST(general(routes.APIKeyActivateRoute), h.WithRequests24h(h.ActivateAPIKey))
	full.GET(general(routes.APIKeyDeleteRoute), h.ConfirmDeleteDialog)
	full.POST(general(routes.APIKeyDeleteRoute), h.WithRequests24h(h.DeleteAPIKey))
	full.GET(general(routes.APIKeyRollRoute), h.RollAPIKeyDialog)
	full.POST(general(routes.APIKeyRollRoute), h.WithRequests24h(h.RollAPIKey))
	full.GET(general(routes.APIKeyExpireOldRoute), h.ConfirmExpireOldKeyDialog)
	full.POST(general(routes.APIKeyExpireOldRoute), h.WithRequests24h(h.ExpireOldAPIKey))
	full.POST(general(routes.MaxKeyLifetime), h.SetMaxKeyLifetime)
	s.adminsRoutes(full, general)
	s.manageConsoleRoutes(full, general)
	s.leakSettingsRoutes(full, general)
	full.GET(general(routes.APIKeyUsageRoute), h.ShowAPIKeyUsage)
	s.ssoConsoleRoutes(full, general)
	// The document is embedded at build time: a parse failure is a build
	// defect (a test parses it).
	apiReference, err := h.APIReference(openAPIDocument)
	if err != nil {
		return err
	}
	full.GET(general(routes.APIReference), apiReference)

	s.auditTrailRoutes(signedIn.Group(routes.AuditTrail, h.RequireModule(accounts.ModuleAuditTrail)))
	s.apiRoutes(newRouteSet(e, routes.API))
	s.leakRoutes(newRouteSet(e, routes.API), s.Stores.ManagementKeys)
	s.scimRoutes()
	return nil
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
		if req.Method == http.MethodHead {
			// Served as GET, so that HEAD's headers are GET's to the
			// letter (compression included); headWithoutBody drops the
			// body.
			req = req.Clone(req.Context())
			req.Method = http.MethodGet
		}
		files.ServeHTTP(c.Response(), req)
		return nil
	}
}
