package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/routes"
	"keydesk/views"
)

// Home sends an admin to the first section they may use.
func (h *Handler) Home(c echo.Context) error {
	return c.Redirect(http.StatusSeeOther, h.homeFor(principalOf(c)))
}

func (h *Handler) homeFor(p *Principal) string {
	switch {
	case needsTwoFactorSetup(p):
		return routes.Account
	case p.Membership.IsFull():
		return routes.APIKeys
	case p.Membership.HasModule(accounts.ModuleAuditTrail):
		return routes.AuditTrail
	default:
		return routes.NoAccess
	}
}

// NoAccess is the page of a limited admin with no module.
func (h *Handler) NoAccess(c echo.Context) error {
	admins, err := h.stores.Accounts.FullAccessEmails(c.Request().Context(), principalOf(c).Program.ID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.NoAccessPage(h.shell(c, "No access", ""), admins))
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// shell builds the layout's data for the current admin.
func (h *Handler) shell(c echo.Context, title, active string) views.Shell {
	s := views.Shell{Title: title, Active: active, CSRF: csrfToken(c)}
	if p := principalOf(c); p != nil {
		s.AdminEmail = p.Admin.Email
		s.ProgramName = p.Program.Name
		s.PartnerID = p.Program.PartnerID
		s.CanKeys = p.Membership.IsFull()
		s.CanSettings = p.Membership.IsFull()
		s.CanAudit = p.Membership.HasModule(accounts.ModuleAuditTrail)
		s.HasTOTP = p.Admin.HasTOTP()
		s.HasPasskey = p.Admin.HasPasskey()
		s.SSOSession = p.Session.SSOProgram() != 0
		for _, m := range p.Memberships {
			s.Programs = append(s.Programs, views.ProgramChoice{Name: m.Program.Name, PartnerID: m.Program.PartnerID, Current: m.Program.ID == p.Program.ID})
		}
	}
	return s
}

// ShellFor gives the error handler the layout data of the current request.
func (h *Handler) ShellFor(c echo.Context, title string) views.Shell {
	return h.shell(c, title, "")
}
