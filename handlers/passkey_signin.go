package handlers

import (
	"errors"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/metrics"
	"keydesk/routes"
)

// An anonymous visitor's usernameless sign-in has no session row to hold
// its ceremony, and must not make one (anyone can ask for options): the
// ceremony travels in a sealed cookie (authenticated and encrypted under
// keys derived from the master key, refused after PasskeyCeremonyTimeout),
// sent only to the sign-in's answer route and cleared when it is read.
// Copies of the cookie are stopped by spendChallenge like any answer.
const passkeyLoginCookie = "keydesk_passkey_login"

// passkeyLoginCeremony is what the sign-in cookie holds.
type passkeyLoginCeremony struct {
	Data webauthn.SessionData `json:"data"`
	Next string               `json:"next"`
}

// LoginPasskeyOptions starts a usernameless sign-in: the browser offers
// the passkeys it holds for this site.
func (h *Handler) LoginPasskeyOptions(c echo.Context) error {
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	assertion, data, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	ceremony := passkeyLoginCeremony{Data: *data, Next: safeNext(c.FormValue("next"))}
	if err := h.sessions.SealCookie(c.Response(), passkeyLoginCookie, routes.LoginPasskey, ceremony, PasskeyCeremonyTimeout); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, assertion)
}

// LoginPasskey signs in with a passkey alone: any passkey an admin added
// is a complete sign-in, since user verification (the device's
// fingerprint, face or PIN) is required when it is added and here.
func (h *Handler) LoginPasskey(c echo.Context) error {
	var ceremony passkeyLoginCeremony
	if !h.sessions.OpenCookie(c.Request(), c.Response(), passkeyLoginCookie, routes.LoginPasskey, &ceremony, PasskeyCeremonyTimeout) {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	data := &ceremony.Data
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(c.Request().Body)
	if err != nil {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyFailed)
	}
	ctx := c.Request().Context()
	var admin *accounts.Admin
	_, cred, err := wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		u, err := h.stores.Accounts.WebAuthnUser(ctx, accounts.AdminIDFromHandle(userHandle))
		if err != nil {
			return nil, err
		}
		admin = u.Admin
		return u, nil
	}, *data, parsed)
	if err != nil || admin == nil {
		if err != nil {
			h.logger.Info("passkey sign-in refused", "error", err.Error())
		}
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	}
	if first, err := h.spendChallenge(c, data); err != nil {
		return err
	} else if !first {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	switch err := h.stores.Accounts.PasskeyUsed(ctx, admin.ID, cred); {
	case errors.Is(err, accounts.ErrPasskeyCloned), errors.Is(err, database.ErrNotFound):
		h.logger.Warn("passkey sign-in refused", "error", err.Error(), "admin_id", admin.ID)
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	case err != nil:
		return err
	}
	return h.passkeySignIn(c, admin.ID, safeNext(ceremony.Next))
}

// passkeySignIn completes the sign-in of an admin whose passkey checked
// out and answers with where to go.
func (h *Handler) passkeySignIn(c echo.Context, adminID int64, next string) error {
	ctx := c.Request().Context()
	admin, err := h.stores.Accounts.AdminByID(ctx, adminID)
	if err != nil {
		return err
	}
	memberships, err := h.stores.Accounts.Memberships(ctx, adminID)
	if err != nil {
		return err
	}
	if len(memberships) == 0 {
		return passkeyError(c, http.StatusForbidden, "Your account is not a member of any program.")
	}
	if len(usableMemberships(0, memberships)) == 0 {
		return passkeyError(c, http.StatusForbidden, "Your program requires single sign-on. Use Sign in with SSO.")
	}
	to, err := h.signIn(c, admin, memberships, next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": to})
}
