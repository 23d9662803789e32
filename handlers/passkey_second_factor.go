package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
	"keydesk/models/metrics"
)

// LoginCodePasskeyOptions starts the passkey as the second factor of a
// sign-in whose password checked out.
func (h *Handler) LoginCodePasskeyOptions(c echo.Context) error {
	id, _, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, "Your sign-in expired. Sign in again.")
	}
	sess, err := h.loadSession(c)
	if err != nil {
		return err
	}
	return h.beginPasskeyLogin(c, sess, session.PasskeySecondFactor, id)
}

// LoginCodePasskey completes a sign-in with the passkey as second factor.
func (h *Handler) LoginCodePasskey(c echo.Context) error {
	id, next, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, "Your sign-in expired. Sign in again.")
	}
	sess, err := h.loadSession(c)
	if err != nil {
		return err
	}
	ok, err := h.finishPasskeyLogin(c, sess, session.PasskeySecondFactor, id)
	if err != nil || c.Response().Committed {
		return err
	}
	if !ok {
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	}
	return h.passkeySignIn(c, id, next)
}
