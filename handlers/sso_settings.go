package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/input"
	"keydesk/routes"
	"keydesk/views"
)

// ssoSettingsView is the Single sign-on page's data for the program.
func (h *Handler) ssoSettingsView(c echo.Context) (views.SSOSettings, error) {
	p := principalOf(c)
	ctx := c.Request().Context()
	cfg, err := h.stores.Accounts.SSOConfig(ctx, p.Program.ID)
	if err != nil {
		return views.SSOSettings{}, err
	}
	team, err := h.stores.Accounts.Team(ctx, p.Program.ID)
	if err != nil {
		return views.SSOSettings{}, err
	}
	v := views.SSOSettings{IssuerURL: cfg.IssuerURL, ClientID: cfg.ClientID, SecretSet: cfg.ClientSecret != "",
		RequireSSO: cfg.RequireSSO, BreakGlassAdminID: cfg.BreakGlassAdminID,
		CallbackURL: h.baseURL + routes.SSOCallback, SCIMBaseURL: h.baseURL + routes.SCIM, SCIMTokenAt: cfg.SCIMTokenAt}
	for i, d := range cfg.AllowedDomains {
		if i > 0 {
			v.AllowedDomains += "\n"
		}
		v.AllowedDomains += d
	}
	for _, m := range team {
		if m.Access == accounts.AccessFull {
			v.FullAdmins = append(v.FullAdmins, views.AdminChoice{ID: m.AdminID, Email: m.Email})
		}
	}
	return v, nil
}

// SSOSettings renders General » Settings » Single sign-on.
func (h *Handler) SSOSettings(c echo.Context) error {
	v, err := h.ssoSettingsView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SSOSettingsPage(h.shell(c, "Single sign-on", views.NavSettings), v))
}

// stepUpRequired answers a change that can let someone else sign in (or
// provision admins) like a key reveal: without a recent confirmation the
// page opens the confirmation dialog. It reports whether it answered.
func (h *Handler) stepUpRequired(c echo.Context) (bool, error) {
	if allowed, err := reauthAllowed(c); err != nil || allowed {
		return err != nil, err
	}
	return true, askReauth(c)
}

// SaveSSOSettings stores the program's single sign-on set-up. It is
// gated like a key reveal: whoever changes the identity provider decides
// who can sign in and step up.
func (h *Handler) SaveSSOSettings(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	p := principalOf(c)
	breakGlass, _ := strconv.ParseInt(c.FormValue("break_glass_admin"), 10, 64)
	in := accounts.SSOInput{IssuerURL: c.FormValue("issuer_url"), ClientID: c.FormValue("client_id"), ClientSecret: c.FormValue("client_secret"),
		AllowedDomains: c.FormValue("allowed_domains"), RequireSSO: c.FormValue("require_sso") == "on", BreakGlassAdminID: breakGlass}
	// An admin who signed in with a password and is not the break-glass
	// admin would lock themselves out of the program with this save.
	if in.RequireSSO && p.Session.SSOProgram() != p.Program.ID && breakGlass != p.Admin.ID {
		v, err := h.ssoSettingsView(c)
		if err != nil {
			return err
		}
		v.IssuerURL, v.ClientID, v.AllowedDomains, v.RequireSSO, v.BreakGlassAdminID = in.IssuerURL, in.ClientID, in.AllowedDomains, in.RequireSSO, breakGlass
		v.Errors = map[string]string{"require_sso": "You signed in with a password: sign in with SSO first, or choose yourself as the break-glass admin, so this save does not lock you out."}
		return render(c, http.StatusOK, views.SSOSettingsForm(v))
	}
	err := h.stores.Accounts.SaveSSOConfig(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), actor(c), p.Program.ID, in, h.sso.AllowPrivate)
	var verr input.ValidationError
	switch {
	case errors.Is(err, accounts.ErrReauthGrantSpent):
		return askReauth(c)
	case errors.As(err, &verr):
		v, err := h.ssoSettingsView(c)
		if err != nil {
			return err
		}
		v.IssuerURL, v.ClientID, v.AllowedDomains, v.RequireSSO, v.BreakGlassAdminID = in.IssuerURL, in.ClientID, in.AllowedDomains, in.RequireSSO, breakGlass
		v.Errors = verr
		return render(c, http.StatusOK, views.SSOSettingsForm(v))
	case err != nil:
		return err
	}
	v, err := h.ssoSettingsView(c)
	if err != nil {
		return err
	}
	v.Saved = true
	return render(c, http.StatusOK, views.SSOSettingsForm(v))
}

// CreateSCIMToken makes the program's SCIM token and shows it once; it
// replaces the earlier one. Gated like a key reveal: the token provisions
// and deprovisions the program's admins.
func (h *Handler) CreateSCIMToken(c echo.Context) error {
	if answered, err := h.stepUpRequired(c); answered {
		return err
	}
	p := principalOf(c)
	token, err := h.stores.Accounts.CreateSCIMToken(c.Request().Context(), p.Session.SpendReauth(p.Admin.ID, p.Program.ID), actor(c), p.Program.ID)
	if errors.Is(err, accounts.ErrReauthGrantSpent) {
		return askReauth(c)
	}
	if err != nil {
		return err
	}
	v, err := h.ssoSettingsView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.NewSCIMTokenResponse(token, v))
}
