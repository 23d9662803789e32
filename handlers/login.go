package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"keydesk/models/input"
	"keydesk/models/metrics"

	"github.com/labstack/echo/v4"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/routes"
	"keydesk/views"
)

// ShowLogin renders the sign-in page.
func (h *Handler) ShowLogin(c echo.Context) error {
	if principalOf(c) != nil {
		return c.Redirect(http.StatusSeeOther, h.homeFor(principalOf(c)))
	}
	return render(c, http.StatusOK, views.LoginPage(views.LoginForm{CSRF: csrfToken(c), Next: safeNext(c.QueryParam("next")), Ended: c.QueryParam("ended") == "1"}))
}

// Login checks the credentials and starts a fresh session (a new id, so a
// session planted before sign-in is worthless).
func (h *Handler) Login(c echo.Context) error {
	email := c.FormValue("email")
	password := c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	form := views.LoginForm{CSRF: csrfToken(c), Email: email, Next: next}
	if len(email) > accounts.MaxEmailLength || len(password) > accounts.MaxPasswordLength || !input.Printable(email) {
		form.Email = "" // a refusal does not echo hostile input back
		form.Error = accountMessage(accounts.ErrInvalidCredentials)
		return render(c, http.StatusUnauthorized, views.LoginPage(form))
	}
	admin, err := h.stores.Accounts.Authenticate(c.Request().Context(), email, password, actor(c))
	switch {
	case errors.Is(err, accounts.ErrThrottled):
		metrics.SignInFailures.WithLabelValues(metrics.FactorPassword).Inc()
		form.Error = accountMessage(err)
		return render(c, http.StatusTooManyRequests, views.LoginPage(form))
	case errors.Is(err, accounts.ErrInvalidCredentials):
		metrics.SignInFailures.WithLabelValues(metrics.FactorPassword).Inc()
		form.Error = accountMessage(err)
		return render(c, http.StatusUnauthorized, views.LoginPage(form))
	case err != nil:
		return err
	}
	memberships, err := h.stores.Accounts.Memberships(c.Request().Context(), admin.ID)
	if err != nil {
		return err
	}
	if len(memberships) == 0 {
		form.Error = "Your account is not a member of any program."
		return render(c, http.StatusForbidden, views.LoginPage(form))
	}
	if len(usableMemberships(0, memberships)) == 0 {
		return h.refusePasswordSignIn(c, admin, memberships, form)
	}
	if admin.HasSecondFactor() {
		return h.startSecondFactor(c, admin, next)
	}
	return h.completeSignIn(c, admin, memberships, next)
}

// completeSignIn starts the signed-in session of an admin whose every
// factor checked out, audits it and sends them on.
func (h *Handler) completeSignIn(c echo.Context, admin *accounts.Admin, memberships []accounts.MembershipWithProgram, next string) error {
	to, err := h.signIn(c, admin, memberships, next)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// signIn starts the signed-in session of a password or passkey sign-in,
// audits it and returns where to go.
func (h *Handler) signIn(c echo.Context, admin *accounts.Admin, memberships []accounts.MembershipWithProgram, next string) (string, error) {
	return h.signInWith(c, admin, memberships, next, 0)
}

// signInWith starts the signed-in session, audits it and returns where to
// go. ssoProgram is the program whose identity provider signed the admin
// in (0 for a password or passkey): the session acts on the memberships
// usableMemberships leaves, and none left is errSSORequired.
func (h *Handler) signInWith(c echo.Context, admin *accounts.Admin, memberships []accounts.MembershipWithProgram, next string, ssoProgram int64) (string, error) {
	memberships = usableMemberships(ssoProgram, memberships)
	if len(memberships) == 0 {
		return "", errSSORequired
	}
	program := memberships[0].Program
	now := h.now()
	sess, err := h.freshSession(c)
	if err != nil {
		return "", err
	}
	if ssoProgram != 0 {
		sess.SignInWithSSO(admin.ID, program.ID, now)
	} else {
		sess.SignIn(admin.ID, program.ID, now)
	}
	sess.SetSignInClient(c.Request().UserAgent(), c.RealIP())
	h.startSessionCSRF(c, sess)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return "", err
	}
	a := actor(c)
	a.AdminID, a.Email = admin.ID, admin.Email
	entry := audit.Entry{Action: audit.ActionSignIn, TargetType: "admin", TargetID: strconv.FormatInt(admin.ID, 10), TargetName: admin.Email}
	if ssoProgram != 0 {
		entry.Details = map[string]any{"method": "sso"}
	}
	if err := h.stores.Audit.Record(c.Request().Context(), program.ID, a, entry); err != nil {
		return "", err
	}
	if err := h.stores.Accounts.RecordSignIn(c.Request().Context(), admin.ID); err != nil {
		return "", err
	}
	if next == "" {
		next = h.homeFor(&Principal{Membership: memberships[0].Membership, Program: program, Admin: admin})
	}
	return next, nil
}

// refusePasswordSignIn answers a right password of an admin whose every
// program requires single sign-on (and who is no break-glass admin
// there): audited in each, and the page points to Sign in with SSO.
func (h *Handler) refusePasswordSignIn(c echo.Context, admin *accounts.Admin, memberships []accounts.MembershipWithProgram, form views.LoginForm) error {
	a := actor(c)
	a.AdminID, a.Email = admin.ID, admin.Email
	for _, m := range memberships {
		if err := h.stores.Audit.Record(c.Request().Context(), m.Program.ID, a, audit.Entry{Action: audit.ActionSignInFailed, Outcome: audit.OutcomeRefused,
			TargetType: audit.TargetAdmin, TargetID: strconv.FormatInt(admin.ID, 10), TargetName: admin.Email,
			Details: map[string]any{"reason": "single sign-on required"}}); err != nil {
			return err
		}
	}
	metrics.SignInFailures.WithLabelValues(metrics.FactorPassword).Inc()
	form.Error = "Your program requires single sign-on. Use Sign in with SSO."
	return render(c, http.StatusForbidden, views.LoginPage(form))
}

// Logout revokes the session in the database, not just in the browser.
func (h *Handler) Logout(c echo.Context) error {
	if p := principalOf(c); p != nil {
		if err := h.stores.Audit.Record(c.Request().Context(), p.Program.ID, actor(c), audit.Entry{Action: audit.ActionSignOut, TargetType: "admin", TargetID: strconv.FormatInt(p.Admin.ID, 10), TargetName: p.Admin.Email}); err != nil {
			return err
		}
		if err := h.sessions.Delete(c.Request().Context(), p.Session.ID()); err != nil {
			return err
		}
		h.destroySession(c, p.Session)
	}
	return c.Redirect(http.StatusSeeOther, routes.Login)
}

// SignedOutAlready answers Sign out from a page whose session has already
// ended (signed out in another tab, expired): there is nothing to end, so
// it goes to the sign-in page, whatever the form's token, rather than to
// the expired-form error. It runs before CSRF, which guards a live
// session's sign-out.
func (h *Handler) SignedOutAlready(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if principalOf(c) == nil {
			return c.Redirect(http.StatusSeeOther, routes.Login)
		}
		return next(c)
	}
}

// SwitchProgram changes the program the admin acts on, if they belong to it.
func (h *Handler) SwitchProgram(c echo.Context) error {
	p := principalOf(c)
	partnerID := c.FormValue("partner_id")
	for _, m := range p.Memberships {
		if m.Program.PartnerID == partnerID {
			// A confirmation belongs to the program it was given in:
			// switching to another closes the re-authentication window.
			p.Session.SwitchProgram(p.Program.ID, m.Program.ID)
			// Audited (before the switch takes effect) in the program
			// switched to, naming only that program: each program's trail
			// speaks of itself alone.
			if m.Program.ID != p.Program.ID {
				if err := h.stores.Audit.Record(c.Request().Context(), m.Program.ID, actor(c), audit.Entry{Action: audit.ActionProgramSwitched, TargetType: audit.TargetProgram, TargetID: m.Program.PartnerID, TargetName: m.Program.Name}); err != nil {
					return err
				}
			}
			if err := p.Session.Save(c.Request(), c.Response()); err != nil {
				return err
			}
			return c.Redirect(http.StatusSeeOther, h.homeFor(&Principal{Membership: m.Membership}))
		}
	}
	return notFound()
}

// safeNext accepts only a local path, so the sign-in page cannot become an
// open redirect.
func safeNext(next string) string {
	if next == "" || !input.Printable(next) || strings.IndexFunc(next, unicode.IsSpace) >= 0 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n\\") {
		return ""
	}
	if strings.HasPrefix(next, routes.Login) || strings.HasPrefix(next, routes.Logout) {
		return ""
	}
	return next
}
