package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
	"keydesk/models/metrics"
)

// pendingPasskeyStep reads the sign-in waiting for its second factor, as
// pendingAdmin does, from one load of the session that also holds the
// ceremony: the admin's id (0 when none waits: the sign-in expired) and
// where to go next.
func (h *Handler) pendingPasskeyStep(c echo.Context) (int64, string, *session.Session) {
	sess, err := h.loadSession(c)
	if err != nil || sess.IsNew() {
		return 0, "", nil
	}
	id, next := sess.PendingSecondFactor(h.now())
	return id, safeNext(next), sess
}

const msgSignInExpired = "Your sign-in expired. Sign in again."

// LoginCodePasskeyOptions starts the passkey as the second factor of a
// sign-in whose password checked out.
func (h *Handler) LoginCodePasskeyOptions(c echo.Context) error {
	id, _, sess := h.pendingPasskeyStep(c)
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, msgSignInExpired)
	}
	return h.beginPasskeyLogin(c, sess, session.PasskeySecondFactor, id)
}

// LoginCodePasskey completes a sign-in with the passkey as second factor.
func (h *Handler) LoginCodePasskey(c echo.Context) error {
	id, next, sess := h.pendingPasskeyStep(c)
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, msgSignInExpired)
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
