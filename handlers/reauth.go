package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/accounts"
	"keydesk/views"
)

// Reauthenticate checks the password of the password dialog. Success opens
// the re-authentication window and rotates the session id.
func (h *Handler) Reauthenticate(c echo.Context) error {
	p := principalOf(c)
	if ssoSessionRefusesPassword(p) {
		return echo.NewHTTPError(http.StatusForbidden, "You signed in with single sign-on: confirm with your passkey, authenticator code or identity provider.")
	}
	password := c.FormValue("password")
	if len(password) > accounts.MaxPasswordLength {
		password = password[:accounts.MaxPasswordLength]
	}
	err := h.stores.Accounts.Reauthenticate(c.Request().Context(), p.Program.ID, actor(c), password)
	var wrong *accounts.WrongPasswordError
	var locked *accounts.ReauthLockedError
	switch {
	case errors.As(err, &wrong):
		msg := "Incorrect password. " + strconv.Itoa(wrong.Remaining) + " attempts left before re-authentication is locked for " + minutes(accounts.ReauthLockDuration) + "."
		if wrong.Remaining == 1 {
			msg = "Incorrect password. 1 attempt left before re-authentication is locked for " + minutes(accounts.ReauthLockDuration) + "."
		}
		return render(c, http.StatusOK, views.ReauthCodeForm(p.Admin.Email, msg, p.Admin.HasTOTP()))
	case errors.As(err, &locked):
		minutes := int(time.Until(locked.Until).Minutes()) + 1
		return render(c, http.StatusOK, views.ReauthCodeForm(p.Admin.Email, "Too many incorrect passwords. Re-authentication is locked for "+strconv.Itoa(minutes)+" more minutes.", p.Admin.HasTOTP()))
	case err != nil:
		return err
	}
	if p.Admin.HasTOTP() {
		switch err := h.stores.Accounts.VerifySecondFactor(c.Request().Context(), p.Program.ID, actor(c), p.Admin.ID, c.FormValue("code")); {
		case errors.Is(err, accounts.ErrThrottled):
			return render(c, http.StatusOK, views.ReauthCodeForm(p.Admin.Email, "Too many wrong codes. Wait "+minutes(accounts.ThrottleWindow)+" and try again.", true))
		case errors.Is(err, accounts.ErrInvalidCode):
			return render(c, http.StatusOK, views.ReauthCodeForm(p.Admin.Email, "The code is wrong or was already used.", true))
		case err != nil:
			return err
		}
	}
	if err := h.openReauthWindow(c, p); err != nil {
		return err
	}
	htmx.Trigger(c, map[string]any{"reauthenticated": h.reauthenticatedEvent(p)})
	return render(c, http.StatusOK, views.ReauthCodeForm(p.Admin.Email, "", p.Admin.HasTOTP()))
}

// openReauthWindow records a successful re-authentication (password or
// passkey): the window opens for this session and program (with a zero
// window, a one-time grant), and the session id rotates.
func (h *Handler) openReauthWindow(c echo.Context, p *Principal) error {
	if err := p.Session.OpenReauth(c.Request().Context(), p.Admin.ID, p.Program.ID); err != nil {
		return err
	}
	return p.Session.Rotate(c.Request(), c.Response())
}

// reauthenticatedEvent is the reauthenticated event's detail: until when
// keys show without a password (the page says so), or true with a zero
// window.
func (h *Handler) reauthenticatedEvent(p *Principal) any {
	if t := p.Session.ReauthUntil(p.Admin, p.Program.ID); !t.IsZero() {
		return map[string]string{"until": t.UTC().Format(time.RFC3339)}
	}
	return true
}
