package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
	"keydesk/models/accounts"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/metrics"
	"keydesk/views"
	"keydesk/web/paths"
)

// A signed-in (or half signed-in) admin's WebAuthn ceremony waits in the
// session between its options and its answer (session.Ceremony). A
// challenge is answered once: the finish that verifies an answer records
// the challenge in passkey_challenges_used, one insert that exactly one of
// simultaneous answers wins (spendChallenge).
const (
	// PasskeyCeremonyTimeout bounds how long a challenge stays valid.
	PasskeyCeremonyTimeout = 5 * time.Minute
)

// An anonymous visitor's usernameless sign-in has no session row to hold
// its ceremony, and must not make one (anyone can ask for options): the
// ceremony travels in a sealed cookie (authenticated and encrypted under
// keys derived from the master key, refused after PasskeyCeremonyTimeout),
// sent only to the sign-in's answer route and cleared when it is read.
// Copies of the cookie are stopped by spendChallenge like any answer.
const passkeyLoginCookie = "keydesk_passkey_login"

// passkeyLoginCeremony is what the sign-in cookie holds.
type passkeyLoginCeremony struct {
	Data webauthn.SessionData `json:"data"`
	Next string               `json:"next"`
}

// webAuthn is the relying party New was given, or why there is none.
func (h *Handler) webAuthn() (*webauthn.WebAuthn, error) {
	if h.relyingParty == nil {
		return nil, h.passkeysOff
	}
	return h.relyingParty, nil
}

// NewRelyingParty builds the passkeys' relying party for a base URL
// (KEYDESK_BASE_URL): its ID is the URL's host and its origin the only
// origin accepted. A base URL on an IP address cannot be one (browsers
// refuse WebAuthn there).
func NewRelyingParty(baseURL string) (*webauthn.WebAuthn, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: PasskeyCeremonyTimeout, TimeoutUVD: PasskeyCeremonyTimeout}
	return webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "keydesk",
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts:              webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
}

// passkeysUnavailable refuses a passkey request when the base URL cannot
// be a relying party (browsers refuse WebAuthn on an IP address).
func passkeysUnavailable(c echo.Context, err error) error {
	return passkeyError(c, http.StatusConflict, "Passkeys need KEYDESK_BASE_URL set to the console's host name, such as http://localhost:8080 (browsers refuse passkeys on an IP address): "+err.Error())
}

// passkeyError answers a passkeys.js request with a message to show.
func passkeyError(c echo.Context, status int, msg string) error {
	return c.JSON(status, map[string]string{"error": msg})
}

// spendChallenge marks a verified answer's challenge as used and reports
// whether this request was the first to answer it (of simultaneous answers
// of one assertion, exactly one is). The signature counter cannot stop a
// replay by itself: a synced passkey always reports 0. Called only after
// the library verified the answer, so the table grows with verified
// answers, never with anonymous requests. The record outlives the
// challenge: it was issued before now and expires PasskeyCeremonyTimeout
// after it was issued.
func (h *Handler) spendChallenge(c echo.Context, data *webauthn.SessionData) (bool, error) {
	return h.stores.Accounts.SpendPasskeyChallenge(c.Request().Context(), data.Challenge, h.now().Add(PasskeyCeremonyTimeout))
}

const (
	msgPasskeyExpired = "The passkey request expired. Try again."
	msgPasskeyFailed  = "The passkey could not be verified. Try again, or use another sign-in method."
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
	return c.JSON(http.StatusOK, map[string]string{"redirect": paths.Account + "?notice=passkey_added"})
}

// passkeyID reads a passkey id from the path; anything else is 404.
func passkeyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, notFound()
	}
	return id, nil
}

// RenamePasskey renames one of the admin's passkeys.
func (h *Handler) RenamePasskey(c echo.Context) error {
	p := principalOf(c)
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	err = h.stores.Accounts.RenamePasskey(c.Request().Context(), p.Program.ID, actor(c), id, c.FormValue("name"))
	var invalid input.ValidationError
	switch {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case errors.As(err, &invalid):
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_"+strconv.FormatInt(id, 10), invalid["name"]))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.Account+"?notice=passkey_renamed")
}

// RemovePasskey removes one of the admin's passkeys.
func (h *Handler) RemovePasskey(c echo.Context) error {
	p := principalOf(c)
	id, err := passkeyID(c)
	if err != nil {
		return err
	}
	switch err := h.stores.Accounts.RemovePasskey(c.Request().Context(), p.Program.ID, actor(c), id); {
	case errors.Is(err, database.ErrNotFound):
		return notFound()
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.Account+"?notice=passkey_removed")
}

// SetPasskeyOnly turns "Sign in with a passkey only" on or off.
func (h *Handler) SetPasskeyOnly(c echo.Context) error {
	p := principalOf(c)
	on := c.FormValue("passkey_only") == "on"
	if msg, err := h.confirmCurrentPassword(c, p); err != nil {
		return err
	} else if msg != "" {
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_only_password", msg))
	}
	switch err := h.stores.Accounts.SetPasskeyOnly(c.Request().Context(), p.Program.ID, actor(c), on); {
	case errors.Is(err, accounts.ErrNoPasskey):
		return h.renderAccount(c, http.StatusUnprocessableEntity, accountViewWithError("passkey_only", "Add a passkey first."))
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, paths.Account+"?notice=passkey_only")
}

// beginPasskeyLogin returns request options for one admin's passkeys and
// keeps the challenge in the session as the ceremony kind.
func (h *Handler) beginPasskeyLogin(c echo.Context, sess *session.Session, kind session.Ceremony, adminID int64) error {
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	user, err := h.stores.Accounts.WebAuthnUser(c.Request().Context(), adminID)
	if err != nil {
		return err
	}
	if len(user.Credentials) == 0 {
		return passkeyError(c, http.StatusBadRequest, "You have no passkey. Add one on your account page.")
	}
	assertion, data, err := wa.BeginLogin(user, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	if err := sess.StartCeremony(kind, data); err != nil {
		return err
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, assertion)
}

// finishPasskeyLogin verifies an assertion by one admin's passkey (user
// verification required) and records its new signature counter.
func (h *Handler) finishPasskeyLogin(c echo.Context, sess *session.Session, kind session.Ceremony, adminID int64) (bool, error) {
	data := sess.TakeCeremony(kind)
	if data == nil {
		return false, passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	wa, err := h.webAuthn()
	if err != nil {
		return false, passkeysUnavailable(c, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(c.Request().Body)
	if err != nil {
		return false, nil
	}
	ctx := c.Request().Context()
	user, err := h.stores.Accounts.WebAuthnUser(ctx, adminID)
	if err != nil {
		return false, err
	}
	cred, err := wa.ValidateLogin(user, *data, parsed)
	if err != nil {
		h.logger.Info("passkey assertion refused", "error", err.Error(), "admin_id", adminID)
		return false, nil
	}
	if first, err := h.spendChallenge(c, data); err != nil || !first {
		return false, err
	}
	switch err := h.stores.Accounts.PasskeyUsed(ctx, adminID, cred); {
	case errors.Is(err, accounts.ErrPasskeyCloned), errors.Is(err, database.ErrNotFound):
		h.logger.Warn("passkey assertion refused", "error", err.Error(), "admin_id", adminID)
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

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

// LoginCodePasskeyOptions starts the passkey as the second factor of a
// sign-in whose password checked out.
func (h *Handler) LoginCodePasskeyOptions(c echo.Context) error {
	id, _, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, "Your sign-in expired. Sign in again.")
	}
	sess, err := h.loadSession(c)
	if err != nil {
		return err
	}
	return h.beginPasskeyLogin(c, sess, session.PasskeySecondFactor, id)
}

// LoginCodePasskey completes a sign-in with the passkey as second factor.
func (h *Handler) LoginCodePasskey(c echo.Context) error {
	id, next, err := h.pendingAdmin(c)
	if err != nil {
		return err
	}
	if id == 0 {
		return passkeyError(c, http.StatusUnauthorized, "Your sign-in expired. Sign in again.")
	}
	sess, err := h.loadSession(c)
	if err != nil {
		return err
	}
	ok, err := h.finishPasskeyLogin(c, sess, session.PasskeySecondFactor, id)
	if err != nil || c.Response().Committed {
		return err
	}
	if !ok {
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	}
	return h.passkeySignIn(c, id, next)
}

// passkeySignIn completes the sign-in of an admin whose passkey checked
// out and answers with where to go.
func (h *Handler) passkeySignIn(c echo.Context, adminID int64, next string) error {
	ctx := c.Request().Context()
	admin, err := h.stores.Accounts.AdminByID(ctx, adminID)
	if err != nil {
		return err
	}
	memberships, err := h.stores.Accounts.Memberships(ctx, adminID)
	if err != nil {
		return err
	}
	if len(memberships) == 0 {
		return passkeyError(c, http.StatusForbidden, "Your account is not a member of any program.")
	}
	to, err := h.signIn(c, admin, memberships, next)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": to})
}

// LoginPasskeyOptions starts a usernameless sign-in: the browser offers
// the passkeys it holds for this site.
func (h *Handler) LoginPasskeyOptions(c echo.Context) error {
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	assertion, data, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return err
	}
	ceremony := passkeyLoginCeremony{Data: *data, Next: safeNext(c.FormValue("next"))}
	if err := h.sessions.SealCookie(c.Response(), passkeyLoginCookie, paths.LoginPasskey, ceremony, PasskeyCeremonyTimeout); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, assertion)
}

// LoginPasskey signs in with a passkey alone, for an admin who chose
// "Sign in with a passkey only"; anyone else is told to use the password
// first (their passkey is then the second factor).
func (h *Handler) LoginPasskey(c echo.Context) error {
	var ceremony passkeyLoginCeremony
	if !h.sessions.OpenCookie(c.Request(), c.Response(), passkeyLoginCookie, paths.LoginPasskey, &ceremony, PasskeyCeremonyTimeout) {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	data := &ceremony.Data
	wa, err := h.webAuthn()
	if err != nil {
		return passkeysUnavailable(c, err)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBody(c.Request().Body)
	if err != nil {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyFailed)
	}
	ctx := c.Request().Context()
	var admin *accounts.Admin
	_, cred, err := wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		u, err := h.stores.Accounts.WebAuthnUser(ctx, accounts.AdminIDFromHandle(userHandle))
		if err != nil {
			return nil, err
		}
		admin = u.Admin
		return u, nil
	}, *data, parsed)
	if err != nil || admin == nil {
		if err != nil {
			h.logger.Info("passkey sign-in refused", "error", err.Error())
		}
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	}
	if first, err := h.spendChallenge(c, data); err != nil {
		return err
	} else if !first {
		return passkeyError(c, http.StatusBadRequest, msgPasskeyExpired)
	}
	if !admin.PasskeyOnly {
		return passkeyError(c, http.StatusUnauthorized, "This passkey is your second step: sign in with your email and password first. To sign in with the passkey alone, turn on \"Sign in with a passkey only\" on your account page.")
	}
	switch err := h.stores.Accounts.PasskeyUsed(ctx, admin.ID, cred); {
	case errors.Is(err, accounts.ErrPasskeyCloned), errors.Is(err, database.ErrNotFound):
		h.logger.Warn("passkey sign-in refused", "error", err.Error(), "admin_id", admin.ID)
		metrics.SignInFailures.WithLabelValues(metrics.FactorPasskey).Inc()
		return passkeyError(c, http.StatusUnauthorized, msgPasskeyFailed)
	case err != nil:
		return err
	}
	return h.passkeySignIn(c, admin.ID, safeNext(ceremony.Next))
}

// accountViewWithError is /account with one field's error.
func accountViewWithError(field, msg string) views.AccountView {
	return views.AccountView{Errors: map[string]string{field: msg}}
}

// passkeyRows lists the admin's passkeys for /account.
func (h *Handler) passkeyRows(c echo.Context, adminID int64) ([]views.PasskeyRow, error) {
	list, err := h.stores.Accounts.Passkeys(c.Request().Context(), adminID)
	if err != nil {
		return nil, err
	}
	rows := make([]views.PasskeyRow, len(list))
	for i, pk := range list {
		rows[i] = views.PasskeyRow{ID: pk.ID, Name: pk.Name, CreatedAt: pk.CreatedAt, LastUsedAt: pk.LastUsedAt}
	}
	return rows, nil
}

// confirmCurrentPassword checks the form's current_password for a change
// that would let someone sign in (adding a passkey, passkey-only sign-in),
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
