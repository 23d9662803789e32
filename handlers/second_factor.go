package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/metrics"
	"keydesk/routes"
	"keydesk/views"
)

// startSecondFactor records that the password checked out and asks for
// the code.
func (h *Handler) startSecondFactor(c echo.Context, admin *accounts.Admin, next string) error {
	sess, err := h.freshSession(c)
	if err != nil {
		return err
	}
	sess.StartSecondFactor(admin.ID, next, h.now())
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.LoginCode)
}

// pendingAdmin returns the admin a sign-in waits on, or 0.
func (h *Handler) pendingAdmin(c echo.Context) (int64, string, error) {
	sess, err := h.loadSession(c)
	if err != nil || sess.IsNew() {
		return 0, "", nil
	}
	id, next := sess.PendingSecondFactor(h.now())
	if id == 0 {
		return 0, "", nil
	}
	return id, safeNext(next), nil
}

// ShowLoginCode asks for the authenticator code after the password.
func (h *Handler) ShowLoginCode(c echo.Context) error {
	id, _, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return c.Redirect(http.StatusSeeOther, routes.Login)
	}
	admin, err := h.stores.Accounts.AdminByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.LoginCodePage(csrfToken(c), "", admin.HasTOTP(), admin.HasPasskey()))
}

// LoginCode checks the second factor and completes the sign-in.
func (h *Handler) LoginCode(c echo.Context) error {
	id, next, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return c.Redirect(http.StatusSeeOther, routes.Login)
	}
	ctx := c.Request().Context()
	memberships, err := h.stores.Accounts.Memberships(ctx, id)
	if err != nil {
		return err
	}
	if len(memberships) == 0 {
		return c.Redirect(http.StatusSeeOther, routes.Login)
	}
	admin, err := h.stores.Accounts.AdminByID(ctx, id)
	if err != nil {
		return err
	}
	err = h.stores.Accounts.VerifySecondFactor(ctx, memberships[0].Program.ID, actor(c), id, c.FormValue("code"))
	switch {
	case errors.Is(err, accounts.ErrThrottled):
		metrics.SignInFailures.WithLabelValues(metrics.FactorCode).Inc()
		return render(c, http.StatusTooManyRequests, views.LoginCodePage(csrfToken(c), accountMessage(err), admin.HasTOTP(), admin.HasPasskey()))
	case errors.Is(err, accounts.ErrInvalidCode), errors.Is(err, accounts.ErrTOTPNotSetUp):
		metrics.SignInFailures.WithLabelValues(metrics.FactorCode).Inc()
		return render(c, http.StatusUnauthorized, views.LoginCodePage(csrfToken(c), accountMessage(err), admin.HasTOTP(), admin.HasPasskey()))
	case err != nil:
		return err
	}
	return h.completeSignIn(c, admin, memberships, next)
}

// needsTwoFactorSetup reports whether the program requires a second
// factor the admin has not set up.
func needsTwoFactorSetup(p *Principal) bool {
	return p != nil && p.Admin != nil && p.Program.RequireTwoFactor && !p.Admin.HasSecondFactor()
}

// RequireTwoFactorSetup sends an admin whom the program requires to use two-factor
// authentication, and who has none, to /account before anything else.
func (h *Handler) RequireTwoFactorSetup(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !needsTwoFactorSetup(principalOf(c)) {
			return next(c)
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			c.Response().Header().Set("HX-Redirect", routes.Account)
			return c.NoContent(http.StatusForbidden)
		}
		if isRead(c) {
			return c.Redirect(http.StatusSeeOther, routes.Account)
		}
		return echo.NewHTTPError(http.StatusForbidden, "This program requires two-factor authentication. Set up an authenticator app in your account first.")
	}
}
