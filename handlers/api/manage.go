package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/usage"
)

// Manage serves the management API under /v2/manage: a program's own code
// drives its API keys' lifecycle with a management key (Authorization:
// Bearer kdm_…). Every change goes through the console's store methods, so
// the 20-key cap, tenant isolation, audit in the same transaction,
// webhooks, mail and revocation on every instance hold unchanged; the
// actor is the management key (management_key:kdmi_…).
type Manage struct {
	keys     *keys.Store
	mgmt     *managementkeys.Store
	usage    *usage.Store
	audit    *audit.Store
	verifier *apiauth.ManagementVerifier
	failures *apiauth.FailedAuthLimiter
	limits   *apiauth.RateLimiter
	now      database.Clock
}

// ManageDeps are what the management API works with, all given at
// construction.
type ManageDeps struct {
	Keys           *keys.Store
	ManagementKeys *managementkeys.Store
	Usage          *usage.Store
	Audit          *audit.Store
	Verifier       *apiauth.ManagementVerifier
	// Failures limits failed authentications per client address, shared
	// with the REST API (nil: no limit).
	Failures *apiauth.FailedAuthLimiter
	// Limits is each management key's budget of calls per minute, one
	// budget for reads and writes alike (a limit of 0: unlimited).
	Limits *apiauth.RateLimiter
	Now    database.Clock
}

// NewManage builds the management API handlers.
func NewManage(d ManageDeps) *Manage {
	return &Manage{keys: d.Keys, mgmt: d.ManagementKeys, usage: d.Usage, audit: d.Audit, verifier: d.Verifier, failures: d.Failures, limits: d.Limits, now: d.Now}
}

// Error codes of the management API beside ERROR_UNAUTHORIZED and
// ERROR_FORBIDDEN.
const (
	codeNotFound   = "ERROR_NOT_FOUND"
	codeConflict   = "ERROR_CONFLICT"
	codeValidation = "ERROR_VALIDATION"
)

const ctxManagementKey = "keydesk.manage.key"

// managementUnauthorizedReason is the one reason of every refused
// management key.
const managementUnauthorizedReason = "Authentication failed: send a live management key as Authorization: Bearer kdm_…."

// RequireManagementKey authenticates a management call by its Bearer
// management key. Anything wrong (missing, malformed, unknown, revoked,
// expired) is the same 401 and spends one of the client address's failed
// authentications, shared with the REST API's limit.
func (m *Manage) RequireManagementKey(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if blocked, wait := m.failures.Blocked(c.RealIP()); blocked {
			return rateLimited(c, wait, "Too many failed authentications from this address.")
		}
		token, ok := bearerToken(c.Request().Header.Get(echo.HeaderAuthorization))
		var key *apiauth.VerifiedManagementKey
		var err error
		if ok {
			key, err = m.verifier.Verify(c.Request().Context(), token)
		}
		if !ok || errors.Is(err, apiauth.ErrUnauthorized) {
			m.failures.Failed(c.RealIP())
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="keydesk-manage"`)
			return apiError(c, http.StatusUnauthorized, codeUnauthorized, managementUnauthorizedReason, nil)
		}
		if err != nil {
			return err
		}
		c.Set(ctxManagementKey, key)
		return next(c)
	}
}

// RateLimit spends one call of the management key's budget
// (KEYDESK_MANAGE_LIMIT a minute, per instance); past it the call is 429
// RATE_LIMIT_EXCEEDED with Retry-After. It runs after the scope check, so
// a refused call spends nothing.
func (m *Manage) RateLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := managementKey(c)
		if key == nil {
			return apiError(c, http.StatusUnauthorized, codeUnauthorized, managementUnauthorizedReason, nil)
		}
		// One budget per key: reads and writes spend the same one.
		if ok, wait := m.limits.Allow(key.ID, apiauth.RateRead); !ok {
			return rateLimited(c, wait, "Rate limit exceeded for this management key.")
		}
		return next(c)
	}
}

// RequireScope refuses, with 403, a call whose management key lacks scope;
// it runs after RequireManagementKey.
func (m *Manage) RequireScope(scope managementkeys.Scope) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := managementKey(c)
			if key == nil {
				return apiError(c, http.StatusUnauthorized, codeUnauthorized, managementUnauthorizedReason, nil)
			}
			if !key.HasScope(scope) {
				return apiError(c, http.StatusForbidden, codeForbidden,
					"This management key does not have the scope "+scope.Label()+" ("+string(scope)+").", map[string]any{"required_scope": string(scope)})
			}
			return next(c)
		}
	}
}

// managementKey is the management key that authenticated the request.
func managementKey(c echo.Context) *apiauth.VerifiedManagementKey {
	k, _ := c.Get(ctxManagementKey).(*apiauth.VerifiedManagementKey)
	return k
}

// ManagementKeyIdentifier is the public identifier of the management key
// that authenticated the request, for the request log.
func ManagementKeyIdentifier(c echo.Context) (string, bool) {
	if k := managementKey(c); k != nil {
		return k.Identifier, true
	}
	return "", false
}

// managementActor is who acts in a management call: the management key by
// its public identifier, never the key itself.
func managementActor(c echo.Context) audit.Actor {
	return audit.Actor{
		Email:     audit.ManagementKeyActorName(managementKey(c).Identifier),
		IP:        c.RealIP(),
		UserAgent: c.Request().UserAgent(),
		RequestID: c.Response().Header().Get(echo.HeaderXRequestID),
	}
}

// manageError answers a store error in the management API's terms; an
// error it does not know goes to the central error handler (500).
func manageError(c echo.Context, err error) error {
	var verr input.ValidationError
	switch {
	case errors.As(err, &verr):
		return validationError(c, verr)
	case errors.Is(err, database.ErrNotFound), errors.Is(err, keys.ErrDefaultKey):
		return notFound(c)
	case errors.Is(err, keys.ErrKeyLimitReached):
		return apiError(c, http.StatusConflict, codeConflict, "The program has reached its limit of 20 API keys. Delete a key you no longer use first.", nil)
	case errors.Is(err, keys.ErrKeyActive):
		return apiError(c, http.StatusConflict, codeConflict, "Only an inactive key can be deleted. Inactivate it first.", nil)
	case errors.Is(err, keys.ErrKeyInactive):
		return apiError(c, http.StatusConflict, codeConflict, "The key is inactive. Activate it before rolling it.", nil)
	}
	return err
}

func notFound(c echo.Context) error {
	return apiError(c, http.StatusNotFound, codeNotFound, "No API key of this program has this identifier.", nil)
}

// validationError is the 422 answer naming the first field at fault (in
// field) and every field's problem (in errors).
func validationError(c echo.Context, verr input.ValidationError) error {
	fields := make([]string, 0, len(verr))
	for f := range verr {
		fields = append(fields, f)
	}
	slices.Sort(fields)
	return apiError(c, http.StatusUnprocessableEntity, codeValidation, verr[fields[0]], map[string]any{"field": fields[0], "errors": map[string]string(verr)})
}

func invalidField(c echo.Context, field, problem string) error {
	return validationError(c, input.ValidationError{field: problem})
}

// loadKeyByIdentifier loads the path's key through the calling key's
// program: another program's identifier, the default key's or a
// malformed one is 404.
func (m *Manage) loadKeyByIdentifier(c echo.Context) (*keys.APIKey, error) {
	identifier := c.Param("identifier")
	if !keys.IsIdentifier(identifier) {
		return nil, database.ErrNotFound
	}
	return m.keys.ByIdentifier(c.Request().Context(), managementKey(c).ProgramID, identifier)
}
