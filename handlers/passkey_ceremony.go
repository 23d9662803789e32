package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
	"keydesk/models/accounts"
	"keydesk/models/database"
)

// A signed-in (or half signed-in) admin's WebAuthn ceremony waits in the
// session between its options and its answer (session.Ceremony). A
// challenge is answered once: the finish that verifies an answer records
// the challenge in passkey_challenges_used, one insert that exactly one of
// simultaneous answers wins (spendChallenge).
const (
	// PasskeyCeremonyTimeout bounds how long a challenge stays valid.
	PasskeyCeremonyTimeout = 5 * time.Minute
)

// passkeyError answers a passkeys.js request with a message to show.
func passkeyError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// spendChallenge marks a verified answer's challenge as used and reports
// whether this request was the first to answer it (of simultaneous answers
// of one assertion, exactly one is). The signature counter cannot stop a
// replay by itself: a synced passkey always reports 0. Called only after
// the library verified the answer, so the table grows with verified
// answers, never with anonymous requests. The record outlives the
// challenge: it was issued before now and expires PasskeyCeremonyTimeout
// after it was issued.
func (h *Handler) spendChallenge(c echo.Context, data *webauthn.SessionData) (bool, error) {
	return h.stores.Accounts.SpendPasskeyChallenge(c.Request().Context(), data.Challenge, h.now().Add(PasskeyCeremonyTimeout))
}

const (
	msgPasskeyExpired = "The passkey request expired. Try again."
	msgPasskeyFailed  = "The passkey could not be verified. Try again, or use another sign-in method."
)

// beginPasskeyLogin returns request options for one admin's passkeys and
// keeps the challenge in the session as the ceremony kind.
func (h *Handler) beginPasskeyLogin(c echo.Context, sess *session.Session, kind session.Ceremony, adminID int64) error {
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	user, err := h.stores.Accounts.WebAuthnUser(c.Request().Context(), adminID)
	if err != nil {
		return err
	}
	if len(user.Credentials) == 0 {
		return passkeyError(c, http.StatusBadRequest, "You have no passkey. Add one on your account page.")
	}
	assertion, data, err := wa.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	if err := sess.StartCeremony(kind, data); err != nil {
		return err
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, assertion)
}

// finishPasskeyLogin verifies an assertion by one admin's passkey (user
// verification required) and records its new signature counter.
func (h *Handler) finishPasskeyLogin(c echo.Context, sess *session.Session, kind session.Ceremony, adminID int64) (bool, error) {
	data := sess.TakeCeremony(kind)
	if data == nil {
		return false, passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	wa, err := h.webAuthn()
	if err != nil {
		return false, passkeysUnavailable(c, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(c.Request().Body)
	if err != nil {
		return false, nil
	}
	ctx := c.Request().Context()
	user, err := h.stores.Accounts.WebAuthnUser(ctx, adminID)
	if err != nil {
		return false, err
	}
	cred, err := wa.ValidateLogin(user, *data, parsed)
	if err != nil {
		h.logger.Info("passkey assertion refused", "error", err.Error(), "admin_id", adminID)
		return false, nil
	}
	if first, err := h.spendChallenge(c, data); err != nil || !first {
		return false, err
	}
	switch err := h.stores.Accounts.PasskeyUsed(ctx, adminID, cred); {
	case errors.Is(err, accounts.ErrPasskeyCloned), errors.Is(err, database.ErrNotFound):
		h.logger.Warn("passkey assertion refused", "error", err.Error(), "admin_id", adminID)
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}
