// Package session is the console session: one type that owns everything
// keydesk keeps for a visitor between requests (who is signed in and in
// which program, the re-authentication window and its one-time grants, a
// sign-in waiting for its second factor, a pending authenticator secret,
// WebAuthn ceremonies, the CSRF token). Handlers call its methods and never
// see the gorilla session's map of values; the re-authentication policy is
// its methods (OpenReauth, ReauthAllowed, ReauthUntil, SpendReauth).
//
// The values live server-side in the sessions table (models/sessions); the
// browser holds only the signed, encrypted session id.
package session

import (
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"

	sessionstore "keydesk/models/sessions"
)

// Lifetime rules.
const (
	// CookieName is the session cookie's base name (__Host-keydesk_session
	// with secure cookies: sessionstore.Store.CookieName).
	CookieName  = "keydesk_session"
	IdleTimeout = 30 * time.Minute
	MaxLifetime = 12 * time.Hour
	// SecondFactorTimeout bounds how long the code step of a sign-in waits
	// after the password.
	SecondFactorTimeout = 5 * time.Minute
	// seenResolution bounds how often a busy session is written back.
	seenResolution = time.Minute
)

// The keys of the session's values. Nothing outside this package knows
// them. The admin and program keys are the store's: it copies those two
// into columns on every save.
const (
	keyAdminID   = sessionstore.ValueAdminID
	keyProgramID = sessionstore.ValueProgramID
	keyUserAgent = sessionstore.ValueUserAgent
	keyIPAddress = sessionstore.ValueIPAddress
	keyCreated   = "created"
	keySeen      = "seen"
	keyCSRF      = "csrf"
	// The time and program of the last re-authentication and, with a zero
	// window, the token of its one-time grant.
	keyReauth        = "reauth"
	keyReauthProgram = "reauth_program"
	keyReauthGrant   = "reauth_grant"
	// A sign-in whose password checked out, waiting for its second factor:
	// the admin, when, and where to go next. Such a session signs nobody in
	// (it has no admin id).
	keyPendingAdmin   = "pending_admin"
	keyPendingStarted = "pending_started"
	keyPendingNext    = "pending_next"
	// An authenticator secret waiting for its first code.
	keyPendingTOTP = "totp_pending"
	// The name a passkey being added will get.
	keyPasskeyName = "passkey_register_name"
)

// Session is one visitor's console session.
type Session struct {
	raw    *sessions.Session
	store  *sessionstore.Store
	reauth Reauth
}

// Load returns the request's session (new and empty when the request has
// none). Errors are the store's: sessionstore.ErrRotated for an id that a
// re-authentication replaced a moment ago, or a database error.
func Load(r *http.Request, store *sessionstore.Store, reauth Reauth) (*Session, error) {
	raw, err := store.Get(r, CookieName)
	if err != nil {
		return nil, err
	}
	return &Session{raw: raw, store: store, reauth: reauth}, nil
}

// Fresh returns a new, empty session; it gets an id when saved.
func Fresh(store *sessionstore.Store, reauth Reauth) *Session {
	return &Session{raw: store.Fresh(CookieName), store: store, reauth: reauth}
}

// ID is the session's id ("" until it is first saved).
func (s *Session) ID() string { return s.raw.ID }

// IsNew reports whether the request carried no stored session.
func (s *Session) IsNew() bool { return s.raw.IsNew }

// Save writes the session's values and its cookie.
func (s *Session) Save(r *http.Request, w http.ResponseWriter) error {
	return s.raw.Save(r, w)
}

// Destroy deletes the session and its cookie.
func (s *Session) Destroy(r *http.Request, w http.ResponseWriter) error {
	s.raw.Options.MaxAge = -1
	return s.raw.Save(r, w)
}

// Rotate keeps the session's values under a new id. The old id is retired,
// not deleted, so the admin's requests already on their way with it are
// told the session changed (and htmx retries them) rather than being signed
// out.
func (s *Session) Rotate(r *http.Request, w http.ResponseWriter) error {
	if s.raw.ID != "" {
		if err := s.store.Retire(r.Context(), s.raw.ID); err != nil {
			return err
		}
	}
	fresh := s.store.Fresh(CookieName)
	fresh.Values = s.raw.Values
	s.raw = fresh
	return s.raw.Save(r, w)
}

// maxUserAgentBytes bounds the User-Agent a session keeps: enough for any
// real browser's name and system, and the session's cookie-sized
// values stay small.
const maxUserAgentBytes = 256

// SetSignInClient records the browser (its User-Agent) and the address
// (the server's trusted-proxy-aware client address) the session signs in
// from, for the account page's list of sessions.
func (s *Session) SetSignInClient(userAgent, ip string) {
	if len(userAgent) > maxUserAgentBytes {
		userAgent = strings.ToValidUTF8(userAgent[:maxUserAgentBytes], "")
	}
	s.raw.Values[keyUserAgent] = userAgent
	s.raw.Values[keyIPAddress] = ip
}

// SignIn makes the session the signed-in session of an admin acting on a
// program, starting its lifetime now. The CSRF token is set apart
// (SetCSRFToken).
func (s *Session) SignIn(adminID, programID int64, now time.Time) {
	s.raw.Values[keyAdminID] = adminID
	s.raw.Values[keyProgramID] = programID
	s.raw.Values[keyCreated] = now.Unix()
	s.raw.Values[keySeen] = now.Unix()
}

// AdminID is the signed-in admin, or 0.
func (s *Session) AdminID() int64 { return s.int64(keyAdminID) }

// ProgramID is the program the admin chose to act on, or 0. The admin may
// since have left it: the caller checks the memberships.
func (s *Session) ProgramID() int64 { return s.int64(keyProgramID) }

// Expired reports whether the session outlived its absolute lifetime or
// sat idle too long.
func (s *Session) Expired(now time.Time) bool {
	return now.Sub(s.unix(keyCreated)) > MaxLifetime || now.Sub(s.unix(keySeen)) > IdleTimeout
}

// Touch records that the session was used now. It reports whether that
// changed anything worth saving: a busy session is written back at most
// once a minute.
func (s *Session) Touch(now time.Time) bool {
	if now.Sub(s.unix(keySeen)) <= seenResolution {
		return false
	}
	s.raw.Values[keySeen] = now.Unix()
	return true
}

// SwitchProgram makes the admin act on program to instead of from. A
// password confirmation belongs to the program it was given in: switching
// to another program closes the re-authentication window.
func (s *Session) SwitchProgram(from, to int64) {
	s.raw.Values[keyProgramID] = to
	if to != from {
		s.CloseReauth()
	}
}

// CSRFToken is the session's CSRF token as stored ("" when none); the
// caller checks that it is well formed.
func (s *Session) CSRFToken() string {
	t, _ := s.raw.Values[keyCSRF].(string)
	return t
}

// SetCSRFToken gives the session its CSRF token.
func (s *Session) SetCSRFToken(token string) { s.raw.Values[keyCSRF] = token }

// StartSecondFactor records, in a fresh session, that the admin's password
// checked out at now and the sign-in waits for the second factor, then goes
// to next.
func (s *Session) StartSecondFactor(adminID int64, next string, now time.Time) {
	s.raw.Values[keyPendingAdmin] = adminID
	s.raw.Values[keyPendingStarted] = now.Unix()
	s.raw.Values[keyPendingNext] = next
}

// PendingSecondFactor returns the admin whose sign-in waits for its second
// factor and where it goes next; 0 when none does or it waited longer than
// SecondFactorTimeout.
func (s *Session) PendingSecondFactor(now time.Time) (int64, string) {
	id := s.int64(keyPendingAdmin)
	if id == 0 || now.Sub(s.unix(keyPendingStarted)) > SecondFactorTimeout {
		return 0, ""
	}
	next, _ := s.raw.Values[keyPendingNext].(string)
	return id, next
}

// SetPendingTOTP keeps an authenticator secret until a code confirms it.
func (s *Session) SetPendingTOTP(secret string) { s.raw.Values[keyPendingTOTP] = secret }

// PendingTOTP is the authenticator secret waiting for its first code, or "".
func (s *Session) PendingTOTP() string {
	secret, _ := s.raw.Values[keyPendingTOTP].(string)
	return secret
}

// ClearPendingTOTP drops the pending authenticator secret.
func (s *Session) ClearPendingTOTP() { delete(s.raw.Values, keyPendingTOTP) }

func (s *Session) int64(key string) int64 {
	v, _ := s.raw.Values[key].(int64)
	return v
}

// unix reads a time kept as Unix seconds; zero when absent.
func (s *Session) unix(key string) time.Time {
	v := s.int64(key)
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(v, 0)
}
