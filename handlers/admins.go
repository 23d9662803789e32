package handlers

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/routes"
	"keydesk/views"
)

// Admins renders General » Admins.
func (h *Handler) Admins(c echo.Context) error {
	return h.renderAdmins(c, http.StatusOK, views.AdminsView{Notice: noticeText(c.QueryParam("notice"))})
}

// notices are the one-line confirmations a redirect names in ?notice=
// (General » Admins and /account), all of them here.
var notices = map[string]string{
	"removed":         "The admin was removed and their sessions in this program ended.",
	"changed":         "Access changed.",
	"revoked":         "The invitation was revoked.",
	"password":        "Password changed. Your other sessions were signed out.",
	"signout":         "Your other sessions were signed out.",
	"totp":            "Authenticator app removed.",
	"passkey_added":   "Passkey added.",
	"passkey_renamed": "Passkey renamed.",
	"passkey_removed": "Passkey removed.",
}

func noticeText(code string) string { return notices[code] }

func (h *Handler) renderAdmins(c echo.Context, status int, v views.AdminsView) error {
	p := principalOf(c)
	ctx := c.Request().Context()
	v.MailOn = h.mail.On
	v.MailProblem = h.mail.Problem
	team, err := h.stores.Accounts.Team(ctx, p.Program.ID)
	if err != nil {
		return err
	}
	invitations, err := h.stores.Accounts.PendingInvitations(ctx, p.Program.ID)
	if err != nil {
		return err
	}
	v.CSRF, v.Team, v.Invitations, v.SelfID = csrfToken(c), team, invitations, p.Admin.ID
	if v.Invite.Access == "" {
		v.Invite.Access = accounts.AccessLimited
	}
	return render(c, status, views.AdminsPage(h.shell(c, "Admins", views.NavAdmins), v))
}

// InviteAdmin creates an invitation and shows its link once.
func (h *Handler) InviteAdmin(c echo.Context) error {
	p := principalOf(c)
	form, _ := c.FormParams()
	f := views.InviteForm{Email: c.FormValue("email"), Access: c.FormValue("access"), Modules: form["modules"], Errors: map[string]string{}}
	if len(f.Email) > accounts.MaxEmailLength {
		f.Email = ""
		f.Errors["email"] = accountMessage(accounts.ErrInvalidEmail)
		return h.renderAdmins(c, http.StatusUnprocessableEntity, views.AdminsView{Invite: f})
	}
	_, token, err := h.stores.Accounts.Invite(c.Request().Context(), actor(c), p.Program.ID, f.Email, f.Access, f.Modules)
	switch {
	case errors.Is(err, accounts.ErrInvalidEmail), errors.Is(err, accounts.ErrAdminExists):
		f.Errors["email"] = accountMessage(err)
	case errors.Is(err, accounts.ErrInvalidAccess):
		f.Errors["access"] = accountMessage(err)
	case errors.Is(err, accounts.ErrTooManyPending):
		return h.renderAdmins(c, http.StatusConflict, views.AdminsView{Invite: f, Error: accountMessage(err)})
	case errors.Is(err, accounts.ErrInvitationRate):
		c.Response().Header().Set("Retry-After", "60")
		return h.renderAdmins(c, http.StatusTooManyRequests, views.AdminsView{Invite: f, Error: accountMessage(err)})
	case err != nil:
		return err
	}
	if len(f.Errors) > 0 {
		return h.renderAdmins(c, http.StatusUnprocessableEntity, views.AdminsView{Invite: f})
	}
	return h.renderAdmins(c, http.StatusOK, views.AdminsView{Invite: f, Link: h.baseURL + routes.Invite(token), Notice: "Invitation created."})
}

// teamMember loads an admin of the current program; another program's
// admin (or any unknown id) is a 404.
func (h *Handler) teamMember(c echo.Context) (*accounts.TeamMember, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return nil, notFound()
	}
	team, err := h.stores.Accounts.Team(c.Request().Context(), principalOf(c).Program.ID)
	if err != nil {
		return nil, err
	}
	for _, m := range team {
		if m.AdminID == id {
			return &m, nil
		}
	}
	return nil, notFound()
}

// AdminAccessForm renders Change access.
func (h *Handler) AdminAccessForm(c echo.Context) error {
	m, err := h.teamMember(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminAccessPage(h.shell(c, "Change access", views.NavAdmins), *m, views.InviteForm{Access: m.Access, Modules: m.Modules}, ""))
}

// ChangeAdminAccess saves Change access.
func (h *Handler) ChangeAdminAccess(c echo.Context) error {
	m, err := h.teamMember(c)
	if err != nil {
		return err
	}
	form, _ := c.FormParams()
	f := views.InviteForm{Access: c.FormValue("access"), Modules: form["modules"]}
	err = h.stores.Accounts.ChangeAccess(c.Request().Context(), actor(c), principalOf(c).Program.ID, m.AdminID, f.Access, f.Modules)
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, accounts.ErrLastFullAdmin):
		return render(c, http.StatusConflict, views.AdminAccessPage(h.shell(c, "Change access", views.NavAdmins), *m, f, accountMessage(err)))
	case errors.Is(err, accounts.ErrInvalidAccess):
		return render(c, http.StatusUnprocessableEntity, views.AdminAccessPage(h.shell(c, "Change access", views.NavAdmins), *m, f, accountMessage(err)))
	case err != nil:
		return err
	}
	return h.afterTeamChange(c, "changed")
}

// afterTeamChange sends the admin back to General » Admins, or, when they
// just took their own full access away, to their new home.
func (h *Handler) afterTeamChange(c echo.Context, notice string) error {
	target := routes.Admins + "?notice=" + notice
	p := principalOf(c)
	if mb, err := h.stores.Accounts.MembershipFor(c.Request().Context(), p.Admin.ID, p.Program.ID); err != nil || !mb.IsFull() {
		target = routes.Home
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// AdminRemoveForm asks before removing an admin.
func (h *Handler) AdminRemoveForm(c echo.Context) error {
	m, err := h.teamMember(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AdminRemovePage(h.shell(c, "Remove admin", views.NavAdmins), *m, ""))
}

// RemoveAdmin removes an admin from the program and ends their sessions
// in it.
func (h *Handler) RemoveAdmin(c echo.Context) error {
	m, err := h.teamMember(c)
	if err != nil {
		return err
	}
	err = h.stores.Accounts.RemoveAdmin(c.Request().Context(), actor(c), principalOf(c).Program.ID, m.AdminID)
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.Is(err, accounts.ErrLastFullAdmin):
		return render(c, http.StatusConflict, views.AdminRemovePage(h.shell(c, "Remove admin", views.NavAdmins), *m, accountMessage(err)))
	case err != nil:
		return err
	}
	if m.AdminID == principalOf(c).Admin.ID {
		return c.Redirect(http.StatusSeeOther, routes.Login)
	}
	return h.afterTeamChange(c, "removed")
}

// RevokeInvitation cancels a pending invitation of the program.
func (h *Handler) RevokeInvitation(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return notFound()
	}
	err = h.stores.Accounts.RevokeInvitation(c.Request().Context(), actor(c), principalOf(c).Program.ID, id)
	if errors.Is(err, database.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, routes.Admins+"?notice=revoked")
}

// ShowInvite renders the invitation page of a link.
func (h *Handler) ShowInvite(c echo.Context) error {
	token := c.Param("token")
	inv, program, existing, err := h.stores.Accounts.InvitationByToken(c.Request().Context(), token)
	if errors.Is(err, accounts.ErrInvitationInvalid) {
		return render(c, http.StatusNotFound, views.InvitePage(views.InvitePageForm{Invalid: true, Error: accountMessage(accounts.ErrInvitationInvalid), ProgramName: "keydesk"}))
	}
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.InvitePage(views.InvitePageForm{CSRF: csrfToken(c), Token: token, Email: inv.Email, ProgramName: program.Name, Existing: existing}))
}

// AcceptInvite sets the password (or checks the existing one), joins the
// program and signs in.
func (h *Handler) AcceptInvite(c echo.Context) error {
	token := c.Param("token")
	password := c.FormValue("password")
	inv, program, existing, err := h.stores.Accounts.InvitationByToken(c.Request().Context(), token)
	if errors.Is(err, accounts.ErrInvitationInvalid) {
		return render(c, http.StatusNotFound, views.InvitePage(views.InvitePageForm{Invalid: true, Error: accountMessage(accounts.ErrInvitationInvalid), ProgramName: "keydesk"}))
	}
	if err != nil {
		return err
	}
	form := views.InvitePageForm{CSRF: csrfToken(c), Token: token, Email: inv.Email, ProgramName: program.Name, Existing: existing}
	if len(password) > accounts.MaxPasswordLength {
		form.Error = accountMessage(accounts.ErrWeakPassword)
		return render(c, http.StatusUnprocessableEntity, views.InvitePage(form))
	}
	admin, _, err := h.stores.Accounts.AcceptInvitation(c.Request().Context(), actor(c), token, password)
	switch {
	case errors.Is(err, accounts.ErrWeakPassword):
		form.Error = accountMessage(err)
		return render(c, http.StatusUnprocessableEntity, views.InvitePage(form))
	case errors.Is(err, accounts.ErrInvalidCredentials):
		form.Error = accountMessage(err)
		return render(c, http.StatusUnauthorized, views.InvitePage(form))
	case errors.Is(err, accounts.ErrThrottled):
		form.Error = accountMessage(err)
		return render(c, http.StatusTooManyRequests, views.InvitePage(form))
	case errors.Is(err, accounts.ErrInvitationInvalid), errors.Is(err, accounts.ErrAdminExists):
		return render(c, http.StatusNotFound, views.InvitePage(views.InvitePageForm{Invalid: true, Error: accountMessage(accounts.ErrInvitationInvalid), ProgramName: program.Name}))
	case err != nil:
		return err
	}
	memberships, err := h.stores.Accounts.Memberships(c.Request().Context(), admin.ID)
	if err != nil {
		return err
	}
	// Land in the program joined.
	for i, m := range memberships {
		if m.Program.ID == program.ID {
			memberships[0], memberships[i] = memberships[i], memberships[0]
		}
	}
	if admin.HasSecondFactor() {
		return h.startSecondFactor(c, admin, "")
	}
	return h.completeSignIn(c, admin, memberships, "")
}
