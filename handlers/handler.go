// Package handlers adapts HTTP to the domain: each handler parses a request,
// checks who may do it, calls models and renders views. No business rules
// live here.
package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"keydesk/models"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/sessions"
)

// Handler holds what every handler needs.
type Handler struct {
	stores       *models.Stores
	sessions     *sessions.Store
	logger       *slog.Logger
	reauthWindow time.Duration
	now          database.Clock
	baseURL      string
	// relyingParty is the passkeys' relying party; passkeysOff says why
	// there is none.
	relyingParty *webauthn.WebAuthn
	passkeysOff  error
	// wakeWebhooks makes this instance's delivery worker look now;
	// mail says whether email notices are on, or why not.
	wakeWebhooks func()
	mail         MailStatus
	readiness    func() map[string]string
	// usageFlush is how often counted calls reach the database.
	usageFlush time.Duration
	sso        SSOOptions
	quotaUsed  func(ctx context.Context, keyID, quota int64, period string) (int64, error)
	// failedAuth limits failed SCIM token checks per client address.
	failedAuth *apiauth.FailedAuthLimiter
}

// MailStatus is whether email notices are on and, when the configuration
// asks for them (KEYDESK_SMTP_URL or KEYDESK_MAIL_FROM set) but they are
// off, Problem: what is wrong and how to fix it. The Webhooks and Settings
// pages show a Problem, so notices are never off without a word.
type MailStatus struct {
	On      bool
	Problem string
}

// Deps are what the handlers work with, all given at construction.
type Deps struct {
	Stores       *models.Stores
	Sessions     *sessions.Store
	Logger       *slog.Logger
	ReauthWindow time.Duration
	// BaseURL is the public URL (config.Options.PublicURL) that invitation
	// links start with.
	BaseURL string
	// RelyingParty is the passkeys' relying party for BaseURL
	// (NewRelyingParty); when BaseURL cannot be one it is nil and
	// PasskeysOff says why, and passkey requests answer 409 saying so.
	RelyingParty *webauthn.WebAuthn
	PasskeysOff  error
	// WakeWebhooks makes this instance's delivery worker look now (nil:
	// no worker to wake).
	WakeWebhooks func()
	// Mail says whether email notices are on, or why not.
	Mail MailStatus
	// Readiness names what /readyz reports beside the database (nil:
	// nothing more).
	Readiness func() map[string]string
	// UsageFlushInterval is how often each instance writes the calls it
	// counted (KEYDESK_API_LAST_USED_INTERVAL): how far behind the usage
	// view can be.
	UsageFlushInterval time.Duration
	// SSO is the identity providers' HTTP client and whether private
	// issuers are allowed.
	SSO SSOOptions
	// QuotaUsed counts a key's calls in its quota's current period (nil:
	// quotas are not shown).
	QuotaUsed func(ctx context.Context, keyID, quota int64, period string) (int64, error)
	// FailedAuth limits failed authentications per client address, shared
	// with the REST and management APIs (nil: no limit).
	FailedAuth *apiauth.FailedAuthLimiter
}

// New builds the handlers from their dependencies; they read the stores'
// clock.
func New(d Deps) *Handler {
	passkeysOff := d.PasskeysOff
	if d.RelyingParty == nil && passkeysOff == nil {
		passkeysOff = errors.New("no relying party configured")
	}
	return &Handler{stores: d.Stores, sessions: d.Sessions, logger: d.Logger, reauthWindow: d.ReauthWindow, now: d.Stores.Clock,
		baseURL: d.BaseURL, relyingParty: d.RelyingParty, passkeysOff: passkeysOff,
		wakeWebhooks: d.WakeWebhooks, mail: d.Mail, readiness: d.Readiness, usageFlush: d.UsageFlushInterval, sso: d.SSO, quotaUsed: d.QuotaUsed,
		failedAuth: d.FailedAuth}
}

// render writes a component after rendering it into a buffer, so a render
// error becomes a clean 500 rather than half a page with status 200.
func render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// actor describes the signed-in admin and the request for audit events.
func actor(c echo.Context) audit.Actor {
	a := audit.Actor{
		IP:        c.RealIP(),
		UserAgent: c.Request().UserAgent(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
	if p := principalOf(c); p != nil {
		a.AdminID, a.Email = p.Admin.ID, p.Admin.Email
	}
	return a
}

// minutes says a duration in whole minutes, in words: "15 minutes".
func minutes(d time.Duration) string {
	if n := int(d / time.Minute); n != 1 {
		return strconv.Itoa(n) + " minutes"
	}
	return "1 minute"
}

// notFound is the answer for ids outside the current program.
func notFound() error { return echo.NewHTTPError(http.StatusNotFound, "Not found.") }
