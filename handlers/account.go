package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"image/png"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/routes"
	"keydesk/views"
)

// Account renders /account.
func (h *Handler) Account(c echo.Context) error {
	return h.renderAccount(c, http.StatusOK, views.AccountView{Notice: noticeText(c.QueryParam("notice"))})
}

func (h *Handler) renderAccount(c echo.Context, status int, v views.AccountView) error {
	p := principalOf(c)
	ctx := c.Request().Context()
	list, err := h.sessions.ForAdmin(ctx, p.Admin.ID)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, m := range p.Memberships {
		names[m.Program.ID] = m.Program.Name
	}
	for _, s := range list {
		v.Sessions = append(v.Sessions, views.SessionRow{Browser: views.BrowserName(s.UserAgent), Address: s.IPAddress, Program: names[s.ProgramID],
			CreatedAt: s.CreatedAt, LastActive: s.UpdatedAt, Current: s.ID == p.Session.ID()})
	}
	v.CSRF, v.Email, v.HasTOTP, v.Required = csrfToken(c), p.Admin.Email, p.Admin.HasTOTP(), p.Program.RequireTwoFactor
	if v.Passkeys, err = h.passkeyRows(c, p.Admin.ID); err != nil {
		return err
	}
	if _, err := h.webAuthn(); err != nil {
		v.PasskeysOff = PasskeysOffReason
	}
	if v.HasTOTP {
		if v.RecoveryLeft, err = h.stores.Accounts.RecoveryCodesLeft(ctx, p.Admin.ID); err != nil {
			return err
		}
	}
	if pending := p.Session.PendingTOTP(); pending != "" && !v.HasTOTP && v.RecoveryCodes == nil {
		key, err := accounts.TOTPKeyFromSecret(p.Admin.Email, pending)
		if err != nil {
			return err
		}
		img, err := key.Image(240, 240)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return err
		}
		v.SetupQR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())
		v.SetupSecret = pending
	}
	return render(c, status, views.AccountPage(h.shell(c, "Account", views.NavAccount), v))
}

// ChangePassword sets a new password after checking the current one (with
// the re-authentication throttle) and ends the admin's other sessions.
func (h *Handler) ChangePassword(c echo.Context) error {
	p := principalOf(c)
	current, next := c.FormValue("current_password"), c.FormValue("new_password")
	if len(current) > accounts.MaxPasswordLength {
		current = current[:accounts.MaxPasswordLength]
	}
	errs := map[string]string{}
	ctx := c.Request().Context()
	if err := h.stores.Accounts.Reauthenticate(ctx, p.Program.ID, actor(c), current); err != nil {
		var wrong *accounts.WrongPasswordError
		var locked *accounts.ReauthLockedError
		switch {
		case errors.As(err, &wrong):
			errs["current_password"] = "Current password is incorrect."
		case errors.As(err, &locked):
			errs["current_password"] = "Too many incorrect passwords. Try again later."
		default:
			return err
		}
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountView{Errors: errs})
	}
	err := h.stores.Accounts.ChangePassword(ctx, p.Program.ID, actor(c), next)
	if errors.Is(err, accounts.ErrWeakPassword) {
		errs["new_password"] = accountMessage(err)
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountView{Errors: errs})
	}
	if err != nil {
		return err
	}
	if _, err := h.sessions.DeleteOthers(ctx, p.Admin.ID, p.Session.ID()); err != nil {
		return err
	}
	p.Session.CloseReauth()
	if err := p.Session.Rotate(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=password")
}

// SignOutOtherSessions ends every session of the admin but this one.
func (h *Handler) SignOutOtherSessions(c echo.Context) error {
	p := principalOf(c)
	ctx := c.Request().Context()
	n, err := h.sessions.DeleteOthers(ctx, p.Admin.ID, p.Session.ID())
	if err != nil {
		return err
	}
	if err := h.stores.Audit.Record(ctx, p.Program.ID, actor(c), audit.Entry{Action: audit.ActionSessionsEnded, TargetType: audit.TargetAdmin,
		TargetID: strconv.FormatInt(p.Admin.ID, 10), TargetName: p.Admin.Email, Details: map[string]any{"sessions_ended": n}}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=signout")
}

// SetupTOTP generates a pending authenticator secret (kept in the session
// until a code confirms it) and shows its QR code.
func (h *Handler) SetupTOTP(c echo.Context) error {
	p := principalOf(c)
	if p.Admin.HasTOTP() {
		return c.Redirect(http.StatusSeeOther, routes.Account)
	}
	key, err := accounts.NewTOTPKey(p.Admin.Email)
	if err != nil {
		return err
	}
	p.Session.SetPendingTOTP(key.Secret())
	if err := p.Session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return h.renderAccount(c, http.StatusOK, views.AccountView{})
}

// ConfirmTOTP saves the pending secret when the code is right and shows
// the recovery codes once.
func (h *Handler) ConfirmTOTP(c echo.Context) error {
	p := principalOf(c)
	pending := p.Session.PendingTOTP()
	if pending == "" || p.Admin.HasTOTP() {
		return c.Redirect(http.StatusSeeOther, routes.Account)
	}
	codes, err := h.stores.Accounts.EnableTOTP(c.Request().Context(), p.Program.ID, actor(c), pending, c.FormValue("code"))
	if errors.Is(err, accounts.ErrInvalidCode) {
		return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountView{Errors: map[string]string{"code": accountMessage(err)}})
	}
	if errors.Is(err, accounts.ErrTOTPAlreadyOn) {
		return c.Redirect(http.StatusSeeOther, routes.Account)
	}
	if err != nil {
		return err
	}
	p.Session.ClearPendingTOTP()
	if err := p.Session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	p.Admin.TOTPSecret = pending
	return h.renderAccount(c, http.StatusOK, views.AccountView{RecoveryCodes: codes, Notice: "Authenticator app set up. Save your recovery codes now: they are not shown again."})
}

// RemoveTOTP removes the authenticator app after the password.
func (h *Handler) RemoveTOTP(c echo.Context) error {
	p := principalOf(c)
	password := c.FormValue("password")
	if len(password) > accounts.MaxPasswordLength {
		password = password[:accounts.MaxPasswordLength]
	}
	ctx := c.Request().Context()
	if err := h.stores.Accounts.Reauthenticate(ctx, p.Program.ID, actor(c), password); err != nil {
		var wrong *accounts.WrongPasswordError
		var locked *accounts.ReauthLockedError
		if errors.As(err, &wrong) || errors.As(err, &locked) {
			return h.renderAccount(c, http.StatusUnprocessableEntity, views.AccountView{Errors: map[string]string{"remove_password": "Password is incorrect."}})
		}
		return err
	}
	if err := h.stores.Accounts.DisableTOTP(ctx, p.Program.ID, actor(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Account+"?notice=totp")
}

// SetTwoFactorPolicy turns General » Settings' Require two-factor
// authentication on or off.
func (h *Handler) SetTwoFactorPolicy(c echo.Context) error {
	p := principalOf(c)
	require := c.FormValue("require_two_factor") == "on"
	if err := h.stores.Accounts.SetRequireTwoFactor(c.Request().Context(), actor(c), p.Program.ID, require); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Settings)
}

// RegenerateRecoveryCodes replaces the admin's recovery codes, behind a
// step-up like a key reveal (whoever holds the codes can sign in), and
// shows the new ones once in the authenticator card.
func (h *Handler) RegenerateRecoveryCodes(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	p := principalOf(c)
	codes, err := h.stores.Accounts.RegenerateRecoveryCodes(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), p.Program.ID, actor(c))
	switch {
	case errors.Is(err, accounts.ErrReauthGrantSpent):
		return askReauth(c)
	case errors.Is(err, accounts.ErrTOTPOff):
		return echo.NewHTTPError(http.StatusConflict, "Set up an authenticator app first: recovery codes go with it.")
	case err != nil:
		return err
	}
	return render(c, http.StatusOK, views.TOTPSection(views.AccountView{CSRF: csrfToken(c), Email: p.Admin.Email, HasTOTP: true, RecoveryCodes: codes,
		CodesNotice: "New recovery codes made: your earlier ones no longer work."}))
}
