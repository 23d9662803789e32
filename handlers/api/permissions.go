package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/models/apiauth"
	"keydesk/models/keys"
	"keydesk/models/metrics"
	"keydesk/models/usage"
)

// codeForbidden is the error code of a call the key authenticates but may
// not make (its permissions or allowed addresses).
const codeForbidden = "ERROR_FORBIDDEN"

// forbidden answers 403 with the reason the verifier gave (the missing
// permission, or the address).
func forbidden(c echo.Context, err error) error {
	reason := "This API key may not make this call."
	var ferr *apiauth.ForbiddenError
	if errors.As(err, &ferr) {
		reason = ferr.Reason()
	}
	return apiError(c, http.StatusForbidden, codeForbidden, reason, nil)
}

// Require refuses, with 403, a call whose key is restricted and lacks
// permission p; it runs after authentication (REST or UI token alike).
func (a *API) Require(p keys.Permission) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key := verifiedKey(c)
			if key == nil {
				return unauthorized(c)
			}
			if err := key.Permit(p); err != nil {
				a.refused(c, key.KeyID, key.ProgramID, metrics.OutcomeForbidden, usage.OutcomeNoPermission)
				a.peekQuota(c, key)
				return forbidden(c, err)
			}
			return next(c)
		}
	}
}
