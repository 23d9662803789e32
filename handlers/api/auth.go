// Package api serves keydesk's JSON API: the Zinrelo-compatible REST API
// (partner-id and api-key headers) and the UI API (a Bearer JWT signed with
// a key). It has its own error body, which the server's central error
// handler writes through WriteError for every path under /v2.
package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/members"
	"keydesk/models/metrics"
	"keydesk/models/usage"
)

// API serves the Zinrelo-compatible REST API (partner-id and api-key
// headers) and the UI API (a Bearer JWT signed with a key).
type API struct {
	members  *members.Store
	verifier *apiauth.Verifier
	limiter  apiauth.KeyLimiter
	failures *apiauth.FailedAuthLimiter
	usage    UsageCounter
	quotas   *apiauth.QuotaEnforcer
}

// Deps are what the API handlers work with, all given at construction.
type Deps struct {
	Members  *members.Store
	Verifier *apiauth.Verifier
	Limiter  apiauth.KeyLimiter
	// Failures limits failed authentications per client address (nil: no
	// limit).
	Failures *apiauth.FailedAuthLimiter
	// Usage counts every verification against its key (nil: none).
	Usage UsageCounter
	// Quotas spends the quotas of keys that have one (nil: not enforced).
	Quotas *apiauth.QuotaEnforcer
}

// New builds the API handlers from their dependencies.
func New(d Deps) *API {
	return &API{members: d.Members, verifier: d.Verifier, limiter: d.Limiter, failures: d.Failures, usage: d.Usage, quotas: d.Quotas}
}

// Header names of the REST API, in Go's canonical form: looked up as
// written, without canonicalising them on every call.
const (
	HeaderPartnerID = "Partner-Id"
	HeaderAPIKey    = "Api-Key"
)

// Error codes of the API, beside "ERROR_" + the status text.
const (
	codeUnauthorized  = "ERROR_UNAUTHORIZED"
	codeRateLimited   = "RATE_LIMIT_EXCEEDED"
	codeQuotaExceeded = "QUOTA_EXCEEDED"
)

// unauthorizedReason is the one reason every authentication failure gives:
// it never says which part was wrong.
const unauthorizedReason = "Authentication failed: check the partner-id and the API key or token."

const ctxVerifiedKey = "keydesk.api.key"

// WriteError writes the API's error body with the status's own code
// ("ERROR_" + the status text); the central error handler calls it.
func WriteError(c echo.Context, status int, reason string) error {
	return apiError(c, status, statusCode(status), reason, nil)
}

// apiError writes the API's error body.
func apiError(c echo.Context, status int, code, reason string, extra map[string]any) error {
	body := map[string]any{"success": false, "error_code": code, "reason": reason}
	for k, v := range extra {
		body[k] = v
	}
	return c.JSON(status, body)
}

// statusCode is the "ERROR_<STATUS TEXT>" code of a status, as the error
// handler writes it for API paths.
func statusCode(status int) string {
	return "ERROR_" + strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
}

func unauthorized(c echo.Context) error {
	return apiError(c, http.StatusUnauthorized, codeUnauthorized, unauthorizedReason, nil)
}

// rateLimited is the 429 answer, with Retry-After in whole seconds (at
// least one).
func rateLimited(c echo.Context, wait time.Duration, reason string) error {
	c.Response().Header().Set("Retry-After", apiauth.RetryAfter(wait))
	return apiError(c, http.StatusTooManyRequests, codeRateLimited, reason, nil)
}

// tooManyFailures refuses a client address that spent its budget of failed
// authentications, before any credential is looked at: random keys must not
// each buy a database lookup. The address is c.RealIP(), which the server's
// IP extractor decides (the connection's own address unless a trusted
// proxy says otherwise). While over budget the address is refused even
// with a valid key: telling it apart would need the lookup being saved.
func (a *API) tooManyFailures(c echo.Context) (bool, error) {
	if blocked, wait := a.failures.Blocked(c.RealIP()); blocked {
		return true, rateLimited(c, wait, "Too many failed authentications from this address.")
	}
	return false, nil
}

// authFailed spends one failure of the client address's budget and
// answers 401.
func (a *API) authFailed(c echo.Context) error {
	a.failures.Failed(c.RealIP())
	return unauthorized(c)
}

// RequireAPIKey authenticates a REST call by its partner-id and api-key
// headers; anything wrong is the same 401.
func (a *API) RequireAPIKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if limited, err := a.tooManyFailures(c); limited {
			return err
		}
		h := c.Request().Header
		key, err := a.verifier.VerifyAPIKey(c.Request().Context(), h.Get(HeaderPartnerID), h.Get(HeaderAPIKey))
		if errors.Is(err, apiauth.ErrUnauthorized) {
			a.countFailure(c, err)
			return a.authFailed(c)
		}
		if err != nil {
			return err
		}
		if err := key.PermitAddress(c.RealIP()); err != nil {
			a.refused(c, key.KeyID, key.ProgramID, metrics.OutcomeForbidden, usage.OutcomeWrongAddress)
			a.peekQuota(c, key)
			return forbidden(c, err)
		}
		a.authenticated(c, key)
		return next(c)
	}
}

// RequireUIToken authenticates a UI API call by its Bearer token and
// partner-id header.
func (a *API) RequireUIToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if limited, err := a.tooManyFailures(c); limited {
			return err
		}
		token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		if !ok {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="keydesk"`)
			return a.authFailed(c)
		}
		key, claims, err := a.verifier.VerifyUIToken(c.Request().Context(), c.Request().Header.Get(HeaderPartnerID), token)
		if errors.Is(err, apiauth.ErrUnauthorized) {
			a.countFailure(c, err)
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="keydesk", error="invalid_token"`)
			return a.authFailed(c)
		}
		if err != nil {
			return err
		}
		a.authenticated(c, key)
		c.Set(ctxUIClaims, claims)
		return next(c)
	}
}

const ctxUIClaims = "keydesk.api.claims"

func (a *API) authenticated(c echo.Context, key *apiauth.VerifiedKey) {
	c.Set(ctxVerifiedKey, key)
}

func bearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(header[len(prefix):])
	return token, token != ""
}

// verifiedKey is the key that authenticated the request.
func verifiedKey(c echo.Context) *apiauth.VerifiedKey {
	k, _ := c.Get(ctxVerifiedKey).(*apiauth.VerifiedKey)
	return k
}

// KeyIdentifier is the public identifier of the key that authenticated
// the request, for the request log; false when none did.
func KeyIdentifier(c echo.Context) (string, bool) {
	if k := verifiedKey(c); k != nil {
		return k.Identifier, true
	}
	return "", false
}

// RateLimit spends one request of the calling key's budget in the category;
// it runs after authentication.
func (a *API) RateLimit(category apiauth.RateCategory) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := verifiedKey(c)
			if key == nil {
				return unauthorized(c)
			}
			if ok, wait := a.limiter.AllowKeyLimit(c.Request().Context(), key.KeyID, category, key.RateLimitPerMinute); !ok {
				a.refused(c, key.KeyID, key.ProgramID, metrics.OutcomeRateLimited, usage.OutcomeRateLimited)
				a.peekQuota(c, key)
				return rateLimited(c, wait, "Rate limit exceeded")
			}
			if key.Quota > 0 && a.quotas != nil {
				d, err := a.quotas.Spend(c.Request().Context(), key)
				if err != nil {
					return err
				}
				setQuotaHeaders(c, d)
				if !d.Allowed {
					a.refused(c, key.KeyID, key.ProgramID, metrics.OutcomeQuotaExceeded, usage.OutcomeQuotaExceeded)
					return quotaExceeded(c, d)
				}
			}
			return a.countAnswer(c, key, next)
		}
	}
}

// setQuotaHeaders writes the key's quota state: X-Quota-Limit,
// X-Quota-Remaining and X-Quota-Reset (the next period's start, RFC 3339).
// They are on every answer of such a key, so the three values share one
// allocation and the names are written canonical (no Header.Set).
func setQuotaHeaders(c echo.Context, d apiauth.QuotaDecision) {
	h := c.Response().Header()
	values := []string{d.LimitHeader(), strconv.FormatInt(d.Remaining, 10), d.ResetHeader()}
	h["X-Quota-Limit"], h["X-Quota-Remaining"], h["X-Quota-Reset"] = values[0:1:1], values[1:2:2], values[2:3:3]
}

// peekQuota writes the quota headers on a refused call of a key with a
// quota, which spends nothing.
func (a *API) peekQuota(c echo.Context, key *apiauth.VerifiedKey) {
	if key.Quota <= 0 || a.quotas == nil {
		return
	}
	if d, err := a.quotas.Peek(c.Request().Context(), key); err == nil {
		setQuotaHeaders(c, d)
	}
}

// quotaExceeded is the 429 past the quota, with Retry-After until the
// next period.
func quotaExceeded(c echo.Context, d apiauth.QuotaDecision) error {
	c.Response().Header().Set("Retry-After", apiauth.RetryAfter(d.RetryAfter))
	return apiError(c, http.StatusTooManyRequests, codeQuotaExceeded, "Quota exceeded for this period; it resets at "+d.ResetHeader()+".", nil)
}
