package handlers

import (
	"errors"
	"net/http"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/input"
	"keydesk/routes"
)

// PasskeyRegisterOptions starts adding a passkey: it checks the name and
// returns the creation options.
func (h *Handler) PasskeyRegisterOptions(c echo.Context) error {
	p := principalOf(c)
	name, err := accounts.ValidatePasskeyName(c.FormValue("name"))
	var invalid input.ValidationError
	if errors.As(err, &invalid) {
		return passkeyError(c, http.StatusUnprocessableEntity, invalid["name"])
	}
	if p.Admin.PasskeyCount >= accounts.MaxPasskeysPerAdmin {
		return passkeyError(c, http.StatusUnprocessableEntity, accounts.ErrTooManyPasskeys.Error()+".")
	}
	// A passkey signs in: adding one needs the password, so a stolen
	// session alone cannot plant a way back in.
	if msg, err := h.confirmCurrentPassword(c, p); err != nil {
		return err
	} else if msg != "" {
		return passkeyError(c, http.StatusUnprocessableEntity, msg)
	}
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	user, err := h.stores.Accounts.WebAuthnUser(c.Request().Context(), p.Admin.ID)
	if err != nil {
		return err
	}
	creation, data, err := wa.BeginRegistration(user, webauthn.WithExclusions(webauthn.Credentials(user.Credentials).CredentialDescriptors()))
	if err != nil {
		return err
	}
	if err := p.Session.StartPasskeyRegistration(name, data); err != nil {
		return err
	}
	if err := p.Session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, creation)
}

// PasskeyRegister verifies the new credential (user verification
// required) and stores it under the name given with the options.
func (h *Handler) PasskeyRegister(c echo.Context) error {
	p := principalOf(c)
	name, data := p.Session.TakePasskeyRegistration()
	if data == nil {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBody(c.Request().Body)
	if err != nil {
		return passkeyError(c, http.StatusBadRequest, "The passkey could not be added: the browser's answer was not understood.")
	}
	ctx := c.Request().Context()
	user, err := h.stores.Accounts.WebAuthnUser(ctx, p.Admin.ID)
	if err != nil {
		return err
	}
	cred, err := wa.CreateCredential(user, *data, parsed)
	if err != nil {
		h.logger.Info("passkey registration refused", "error", err.Error(), "admin_id", p.Admin.ID)
		return passkeyError(c, http.StatusBadRequest, "The passkey could not be added. It must verify you (PIN, fingerprint or face). Try again.")
	}
	if first, err := h.spendChallenge(c, data); err != nil {
		return err
	} else if !first {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	_, err = h.stores.Accounts.AddPasskey(ctx, p.Program.ID, actor(c), name, cred)
	var invalid input.ValidationError
	switch {
	case errors.As(err, &invalid):
		return passkeyError(c, http.StatusUnprocessableEntity, invalid["name"])
	case errors.Is(err, accounts.ErrTooManyPasskeys):
		return passkeyError(c, http.StatusUnprocessableEntity, err.Error()+".")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": routes.Account + "?notice=passkey_added"})
}

// confirmCurrentPassword checks the form's current_password for a change
// that would let someone sign in (adding a passkey),
// throttled and audited like re-authentication. It returns what to tell
// the admin when the password is refused.
func (h *Handler) confirmCurrentPassword(c echo.Context, p *Principal) (string, error) {
	password := c.FormValue("current_password")
	if password == "" {
		return "Enter your current password to confirm.", nil
	}
	if len(password) > accounts.MaxPasswordLength {
		password = password[:accounts.MaxPasswordLength]
	}
	err := h.stores.Accounts.Reauthenticate(c.Request().Context(), p.Program.ID, actor(c), password)
	var wrong *accounts.WrongPasswordError
	var locked *accounts.ReauthLockedError
	switch {
	case errors.As(err, &wrong):
		return "Current password is incorrect.", nil
	case errors.As(err, &locked):
		return "Too many incorrect passwords. Try again later.", nil
	case err != nil:
		return "", err
	}
	return "", nil
}
