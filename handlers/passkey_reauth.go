package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
)

// ReauthPasskeyOptions starts a re-authentication with a passkey.
func (h *Handler) ReauthPasskeyOptions(c echo.Context) error {
	p := principalOf(c)
	return h.beginPasskeyLogin(c, p.Session, session.PasskeyReauth, p.Admin.ID)
}

// ReauthPasskey checks the passkey and opens the re-authentication window
// exactly as the password does. A passkey with user verification is two
// factors in itself, so no authenticator code is asked for.
func (h *Handler) ReauthPasskey(c echo.Context) error {
	p := principalOf(c)
	ok, err := h.finishPasskeyLogin(c, p.Session, session.PasskeyReauth, p.Admin.ID)
	if err != nil || c.Response().Committed {
		return err
	}
	if !ok {
		return passkeyError(c, http.StatusUnprocessableEntity, msgPasskeyFailed)
	}
	if err := h.openReauthWindow(c, p); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"reauthenticated": "true"})
}
