package handlers

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/labstack/echo/v4"
	"golang.org/x/oauth2"

	"keydesk/handlers/htmx"
	"keydesk/handlers/session"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/input"
	"keydesk/routes"
	"keydesk/views"
)

// SSOOptions is what single sign-on needs from the configuration: the
// HTTP client that fetches an issuer's discovery document and keys and
// exchanges codes (SSRF-guarded like webhooks unless AllowPrivate), and
// whether a private or loopback Issuer URL may be saved
// (KEYDESK_WEBHOOK_ALLOW_PRIVATE).
type SSOOptions struct {
	Client       *http.Client
	AllowPrivate bool
}

// authTimeLeeway is how far an identity provider's clock may run behind
// keydesk's when a step-up checks that the sign-in it reports (auth_time)
// happened after the step-up began.
const authTimeLeeway = time.Minute

// errSSORequired refuses a password or passkey sign-in whose programs all
// require single sign-on.
var errSSORequired = echo.NewHTTPError(http.StatusForbidden, "Your program requires single sign-on. Use Sign in with SSO.")

// usableMemberships keeps the memberships a session may act on. A session
// that single sign-on started acts on that program alone (another
// program never trusted that identity provider); a password or passkey
// session acts on every program that does not require single sign-on, or
// names the admin its break-glass admin.
func usableMemberships(ssoProgram int64, ms []accounts.MembershipWithProgram) []accounts.MembershipWithProgram {
	out := make([]accounts.MembershipWithProgram, 0, len(ms))
	for _, m := range ms {
		if ssoProgram != 0 && m.Program.ID == ssoProgram || ssoProgram == 0 && accounts.PasswordSignInAllowed(m) {
			out = append(out, m)
		}
	}
	return out
}

// oidcClient discovers a program's identity provider (through the guarded
// client) and returns it with the OAuth 2 configuration of keydesk's
// client there.
func (h *Handler) oidcClient(ctx context.Context, cfg *accounts.SSOConfig) (context.Context, *oidc.Provider, *oauth2.Config, error) {
	ctx = oidc.ClientContext(ctx, h.sso.Client)
	provider, err := oidc.NewProvider(ctx, cfg.IssuerURL)
	if err != nil {
		return ctx, nil, nil, err
	}
	return ctx, provider, &oauth2.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  h.baseURL + routes.SSOCallback,
		Scopes:       []string{oidc.ScopeOpenID, "email"},
	}, nil
}

// redirectToProvider sends the browser to the identity provider. The
// console's CSP (form-action 'self') forbids a form's redirect to another
// origin, so an htmx request is told where to go (HX-Redirect, a script
// navigation); a plain form gets a page with the link to follow.
func redirectToProvider(c echo.Context, to string) error {
	if htmx.IsRequest(c) {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusOK)
	}
	return render(c, http.StatusOK, views.SSOContinuePage(to))
}

// ShowLoginSSO asks for the email whose domain finds the program's
// identity provider.
func (h *Handler) ShowLoginSSO(c echo.Context) error {
	if p := principalOf(c); p != nil {
		return c.Redirect(http.StatusSeeOther, h.homeFor(p))
	}
	return render(c, http.StatusOK, views.LoginSSOPage(views.LoginForm{CSRF: csrfToken(c), Next: safeNext(c.QueryParam("next"))}))
}

// LoginSSO starts a sign-in at the identity provider of the email's
// domain: authorization code flow with PKCE, state and nonce kept in a
// fresh pre-sign-in session.
func (h *Handler) LoginSSO(c echo.Context) error {
	email := input.NormalizeEmail(c.FormValue("email"))
	next := safeNext(c.FormValue("next"))
	form := views.LoginForm{CSRF: csrfToken(c), Email: email, Next: next}
	if len(email) > accounts.MaxEmailLength || !input.Printable(email) {
		form.Email, form.Error = "", "Enter your work email address."
		return render(c, http.StatusOK, views.LoginSSOPage(form))
	}
	ctx := c.Request().Context()
	cfg, err := h.stores.Accounts.SSOConfigForEmail(ctx, email)
	if errors.Is(err, accounts.ErrSSONotConfigured) {
		form.Error = "Single sign-on is not set up for this email's domain. Sign in with your password, or ask your program's admin."
		return render(c, http.StatusOK, views.LoginSSOPage(form))
	}
	if err != nil {
		return err
	}
	_, _, oc, err := h.oidcClient(ctx, cfg)
	if err != nil {
		h.logger.Warn("single sign-on discovery failed", "program_id", cfg.ProgramID, "error", err)
		if aerr := h.stores.Accounts.RecordSSOFailure(ctx, cfg.ProgramID, actor(c), email, "discovery failed"); aerr != nil {
			return aerr
		}
		form.Error = "Your identity provider could not be reached. Try again in a moment, or sign in with your password."
		return render(c, http.StatusOK, views.LoginSSOPage(form))
	}
	flow := session.SSOFlow{Purpose: session.SSOSignIn, ProgramID: cfg.ProgramID, State: rand.Text(), Nonce: rand.Text(),
		Verifier: oauth2.GenerateVerifier(), Next: next, Started: h.now().Unix()}
	sess, err := h.freshSession(c)
	if err != nil {
		return err
	}
	if err := sess.StartSSO(flow); err != nil {
		return err
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirectToProvider(c, oc.AuthCodeURL(flow.State, oauth2.S256ChallengeOption(flow.Verifier), oidc.Nonce(flow.Nonce),
		oauth2.SetAuthURLParam("login_hint", email)))
}

// resumablePath is what an identity-provider step-up may resume: a
// key's reveal, copy or roll.
var resumablePath = regexp.MustCompile(`^` + regexp.QuoteMeta(routes.APIKeys) + `/[0-9]{1,18}/(reveal|copy|roll)$`)

// ReauthSSO starts an identity-provider step-up for an admin whom single
// sign-on signed in and who has neither a passkey nor an authenticator
// app: a fresh login (prompt=login, max_age=0) whose auth_time the
// callback checks, then back to the page to perform what asked for it.
func (h *Handler) ReauthSSO(c echo.Context) error {
	p := principalOf(c)
	if p.Session.SSOProgram() != p.Program.ID || p.Admin.HasSecondFactor() {
		return echo.NewHTTPError(http.StatusForbidden, "Confirm with your password, passkey or authenticator code.")
	}
	ctx := c.Request().Context()
	cfg, err := h.stores.Accounts.SSOConfig(ctx, p.Program.ID)
	if err != nil {
		return err
	}
	if !cfg.Configured() {
		return echo.NewHTTPError(http.StatusConflict, "Single sign-on is no longer set up for this program. Sign out and sign in again.")
	}
	_, _, oc, err := h.oidcClient(ctx, cfg)
	if err != nil {
		h.logger.Warn("single sign-on discovery failed", "program_id", cfg.ProgramID, "error", err)
		if aerr := h.stores.Accounts.RecordSSOReauth(ctx, p.Program.ID, actor(c), "discovery failed"); aerr != nil {
			return aerr
		}
		return echo.NewHTTPError(http.StatusBadGateway, "Your identity provider could not be reached. Try again in a moment.")
	}
	resume := c.FormValue("resume")
	if !resumablePath.MatchString(resume) {
		resume = ""
	}
	next := safeNext(c.FormValue("next"))
	if next == "" {
		next = routes.APIKeys
	}
	flow := session.SSOFlow{Purpose: session.SSOStepUp, ProgramID: p.Program.ID, AdminID: p.Admin.ID, State: rand.Text(), Nonce: rand.Text(),
		Verifier: oauth2.GenerateVerifier(), Next: next, Resume: resume, Started: h.now().Unix()}
	if err := p.Session.StartSSO(flow); err != nil {
		return err
	}
	if err := p.Session.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirectToProvider(c, oc.AuthCodeURL(flow.State, oauth2.S256ChallengeOption(flow.Verifier), oidc.Nonce(flow.Nonce),
		oauth2.SetAuthURLParam("prompt", "login"), oauth2.SetAuthURLParam("max_age", "0"),
		oauth2.SetAuthURLParam("login_hint", p.Admin.Email)))
}

// ssoClaims are the id_token's claims keydesk reads beyond the standard
// ones the verifier checks.
type ssoClaims struct {
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
	AuthTime      int64  `json:"auth_time"`
}

// ssoRefusal is a callback that did not sign anybody in: Reason goes to
// the audit trail, Message to the admin.
type ssoRefusal struct {
	Reason, Message string
	Email           string
}

func (r *ssoRefusal) Error() string { return r.Reason }

func refuseSSO(reason, message string) *ssoRefusal {
	return &ssoRefusal{Reason: reason, Message: message}
}

const ssoFailedMessage = "Single sign-on did not complete. Try again."

// verifySSOCallback checks the identity provider's answer against the
// flow: state, the code exchanged with the PKCE verifier, the id_token's
// signature (the issuer's keys), issuer, audience and expiry, the nonce,
// and a verified email of an allowed domain. It returns the claims.
func (h *Handler) verifySSOCallback(c echo.Context, flow *session.SSOFlow, cfg *accounts.SSOConfig) (*ssoClaims, error) {
	q := c.Request().URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(flow.State)) != 1 {
		return nil, refuseSSO("state mismatch", ssoFailedMessage)
	}
	if e := q.Get("error"); e != "" {
		return nil, refuseSSO("identity provider error: "+truncate(e, 64), "Your identity provider did not sign you in.")
	}
	if !cfg.Configured() {
		return nil, refuseSSO("single sign-on not configured", "Single sign-on is not set up for this program.")
	}
	ctx, provider, oc, err := h.oidcClient(c.Request().Context(), cfg)
	if err != nil {
		h.logger.Warn("single sign-on discovery failed", "program_id", cfg.ProgramID, "error", err)
		return nil, refuseSSO("discovery failed", "Your identity provider could not be reached. Try again in a moment.")
	}
	token, err := oc.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(flow.Verifier))
	if err != nil {
		h.logger.Warn("single sign-on code exchange failed", "program_id", cfg.ProgramID, "error", err)
		return nil, refuseSSO("code exchange failed", ssoFailedMessage)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return nil, refuseSSO("no id_token", ssoFailedMessage)
	}
	idToken, err := provider.Verifier(&oidc.Config{ClientID: cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		h.logger.Warn("single sign-on id_token refused", "program_id", cfg.ProgramID, "error", err)
		return nil, refuseSSO("id_token invalid: "+truncate(err.Error(), 120), ssoFailedMessage)
	}
	if subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(flow.Nonce)) != 1 {
		return nil, refuseSSO("nonce mismatch", ssoFailedMessage)
	}
	var claims ssoClaims
	if err := idToken.Claims(&claims); err != nil {
		return nil, refuseSSO("id_token claims unreadable", ssoFailedMessage)
	}
	claims.Email = input.NormalizeEmail(claims.Email)
	if claims.Email == "" || claims.EmailVerified == nil || !*claims.EmailVerified {
		r := refuseSSO("email not verified", "Your identity provider has not verified your email address.")
		r.Email = truncate(claims.Email, accounts.MaxEmailLength)
		return nil, r
	}
	if !cfg.AllowsDomain(claims.Email) {
		r := refuseSSO("email domain not allowed", "Your email's domain is not allowed to sign in to this program.")
		r.Email = truncate(claims.Email, accounts.MaxEmailLength)
		return nil, r
	}
	return &claims, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// SSOCallback completes a round trip to the identity provider: a sign-in,
// or a step-up that opens the re-authentication window and returns to the
// page that asked for it. Every outcome is audited.
func (h *Handler) SSOCallback(c echo.Context) error {
	var sess *session.Session
	if p := principalOf(c); p != nil {
		sess = p.Session
	} else {
		s, err := h.loadSession(c)
		if err != nil {
			return err
		}
		sess = s
	}
	var flow *session.SSOFlow
	if !sess.IsNew() {
		flow = sess.TakeSSO(h.now())
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			return err
		}
	}
	if flow == nil {
		return render(c, http.StatusBadRequest, views.LoginSSOPage(views.LoginForm{CSRF: csrfToken(c),
			Error: "This sign-in expired or was already used. Start again."}))
	}
	ctx := c.Request().Context()
	cfg, err := h.stores.Accounts.SSOConfig(ctx, flow.ProgramID)
	if err != nil {
		return err
	}
	claims, err := h.verifySSOCallback(c, flow, cfg)
	if flow.Purpose == session.SSOStepUp {
		return h.finishSSOStepUp(c, flow, claims, err)
	}
	var refusal *ssoRefusal
	if errors.As(err, &refusal) {
		return h.refuseSSOSignIn(c, flow, refusal)
	}
	if err != nil {
		return err
	}
	admin, err := h.stores.Accounts.SSOSignIn(ctx, actor(c), flow.ProgramID, claims.Email)
	if errors.Is(err, accounts.ErrSSONoAccess) {
		return h.refuseSSOSignIn(c, flow, &ssoRefusal{Reason: "not an admin or invited", Email: claims.Email,
			Message: "Your account has no access to this program. Ask one of its admins to invite you."})
	}
	if err != nil {
		return err
	}
	memberships, err := h.stores.Accounts.Memberships(ctx, admin.ID)
	if err != nil {
		return err
	}
	to, err := h.signInWith(c, admin, memberships, flow.Next, flow.ProgramID)
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// refuseSSOSignIn audits a refused single sign-on in the program asked
// and says why on the sign-in page.
func (h *Handler) refuseSSOSignIn(c echo.Context, flow *session.SSOFlow, r *ssoRefusal) error {
	if err := h.stores.Accounts.RecordSSOFailure(c.Request().Context(), flow.ProgramID, actor(c), r.Email, r.Reason); err != nil {
		return err
	}
	return render(c, http.StatusForbidden, views.LoginSSOPage(views.LoginForm{CSRF: csrfToken(c), Error: r.Message, Next: flow.Next}))
}

// finishSSOStepUp opens the re-authentication window when the identity
// provider signed the same admin in afresh (auth_time after the step-up
// began), in the same session and program, and goes back to the page with
// what to resume; anything else is audited and refused.
func (h *Handler) finishSSOStepUp(c echo.Context, flow *session.SSOFlow, claims *ssoClaims, verr error) error {
	p := principalOf(c)
	ctx := c.Request().Context()
	reason := ""
	var refusal *ssoRefusal
	switch {
	case errors.As(verr, &refusal):
		reason = refusal.Reason
	case verr != nil:
		return verr
	case p == nil:
		reason = "session ended"
	case p.Admin.ID != flow.AdminID || p.Program.ID != flow.ProgramID || p.Session.SSOProgram() != flow.ProgramID:
		reason = "another session or program"
	case claims.Email != p.Admin.Email:
		reason = "another account signed in at the identity provider"
	case claims.AuthTime == 0:
		reason = "no auth_time"
	case time.Unix(claims.AuthTime, 0).Before(time.Unix(flow.Started, 0).Add(-authTimeLeeway)):
		reason = "auth_time before the step-up"
	}
	if p == nil {
		return c.Redirect(http.StatusSeeOther, routes.Login+"?ended=1")
	}
	if reason != "" {
		if err := h.stores.Accounts.RecordSSOReauth(ctx, p.Program.ID, actor(c), reason); err != nil {
			return err
		}
		return echo.NewHTTPError(http.StatusForbidden, "Your identity provider did not confirm a fresh sign-in, so nothing was shown. Try again.")
	}
	if err := h.stores.Accounts.RecordSSOReauth(ctx, p.Program.ID, actor(c), ""); err != nil {
		return err
	}
	if err := h.openReauthWindow(c, p); err != nil {
		return err
	}
	to := flow.Next
	if flow.Resume != "" {
		u, err := url.Parse(to)
		if err == nil {
			q := u.Query()
			q.Set("resume", flow.Resume)
			u.RawQuery = q.Encode()
			to = u.String()
		}
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// ReauthenticateCode confirms an admin whom single sign-on signed in with
// their authenticator code alone (they have no password keydesk checks).
func (h *Handler) ReauthenticateCode(c echo.Context) error {
	p := principalOf(c)
	if p.Session.SSOProgram() != p.Program.ID || !p.Admin.HasTOTP() {
		return echo.NewHTTPError(http.StatusForbidden, "Confirm with your password.")
	}
	switch err := h.stores.Accounts.VerifySecondFactor(c.Request().Context(), p.Program.ID, actor(c), p.Admin.ID, c.FormValue("code")); {
	case errors.Is(err, accounts.ErrThrottled):
		return render(c, http.StatusOK, views.ReauthSSOCodeForm("Too many wrong codes. Wait "+minutes(accounts.ThrottleWindow)+" and try again."))
	case errors.Is(err, accounts.ErrInvalidCode):
		return render(c, http.StatusOK, views.ReauthSSOCodeForm("The code is wrong or was already used."))
	case err != nil:
		return err
	}
	a := actor(c)
	if err := h.stores.Audit.Record(c.Request().Context(), p.Program.ID, a, audit.Entry{Action: audit.ActionReauthSucceeded, TargetType: audit.TargetAdmin,
		TargetID: strconv.FormatInt(p.Admin.ID, 10), TargetName: p.Admin.Email, Details: map[string]any{"method": "code"}}); err != nil {
		return err
	}
	if err := h.openReauthWindow(c, p); err != nil {
		return err
	}
	htmx.Trigger(c, map[string]any{"reauthenticated": h.reauthenticatedEvent(p)})
	return render(c, http.StatusOK, views.ReauthSSOCodeForm(""))
}

// ssoSessionRefusesPassword answers a password confirmation in a session
// that single sign-on started: such a session steps up with a passkey, an
// authenticator code or the identity provider.
func ssoSessionRefusesPassword(p *Principal) bool {
	return p.Session.SSOProgram() != 0
}
