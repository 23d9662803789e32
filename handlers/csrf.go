package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
)

// CSRF token names: the header htmx sends (hx-headers on <body>) and the
// hidden field of plain forms. The token is never read from the query
// string, where it would reach logs, history and Referer headers.
const (
	CSRFHeader = "X-CSRF-Token"
	CSRFField  = "_csrf"
	// CSRFCookieName holds the token of anonymous pages (the sign-in
	// form) only: a double-submit cookie, since there is no session yet.
	// With secure cookies it is __Host-keydesk_csrf (Store.CookieName).
	CSRFCookieName   = "keydesk_csrf"
	csrfCookieMaxAge = 2 * time.Hour
	csrfContextKey   = "csrf" // read by csrfToken for the views
	csrfTokenBytes   = 32
)

func errCSRF() error {
	return echo.NewHTTPError(http.StatusForbidden, "This form has expired or did not come from keydesk. Reload the page and try again.")
}

// CSRF guards every console request that changes state with a synchronizer
// token. A signed-in admin's token lives in their server-side session: it is
// created at sign-in (so no token from before sign-in works after it) and
// a token of another session never matches. Anonymous requests (the sign-in
// form) are checked against a double-submit cookie, which writes nothing to
// the database. Tokens are compared in constant time. It runs after
// LoadSession and, on routes for signed-in admins, after RequireAdmin: a
// page whose session has ended is sent to sign in, whatever its token.
func (h *Handler) CSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		safe := false
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
			safe = true
		}
		var want string
		p := principalOf(c)
		if p != nil {
			t, err := sessionCSRFToken(c, p.Session)
			if err != nil {
				return err
			}
			want = t
		} else {
			want = h.anonymousCSRFToken(c, safe)
		}
		c.Set(csrfContextKey, want)
		if !safe && !csrfTokensMatch(submittedCSRFToken(c.Request()), want) {
			return errCSRF()
		}
		return next(c)
	}
}

// submittedCSRFToken reads the token from the header, else from the form
// body (PostFormValue ignores the URL's query string).
func submittedCSRFToken(r *http.Request) string {
	if t := r.Header.Get(CSRFHeader); t != "" {
		return t
	}
	return r.PostFormValue(CSRFField)
}

func csrfTokensMatch(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func newCSRFToken() string {
	b := make([]byte, csrfTokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}

func wellFormedCSRFToken(t string) bool {
	b, err := base64.RawURLEncoding.DecodeString(t)
	return err == nil && len(b) == csrfTokenBytes
}

// sessionCSRFToken returns the signed-in session's token. A session signed
// in before tokens were kept in sessions gets one now.
func sessionCSRFToken(c echo.Context, sess *session.Session) (string, error) {
	if t := sess.CSRFToken(); wellFormedCSRFToken(t) {
		return t, nil
	}
	t := newCSRFToken()
	sess.SetCSRFToken(t)
	return t, sess.Save(c.Request(), c.Response())
}

// startSessionCSRF gives a session that is being signed in its own token and
// drops the anonymous cookie: the sign-in form's token ends with it.
func (h *Handler) startSessionCSRF(c echo.Context, sess *session.Session) {
	sess.SetCSRFToken(newCSRFToken())
	c.SetCookie(h.csrfCookie("", -1))
}

// anonymousCSRFToken returns the token of the browser's CSRF cookie, issuing
// one when there is none. Safe requests (the pages that embed the token)
// refresh the cookie's lifetime.
func (h *Handler) anonymousCSRFToken(c echo.Context, refresh bool) string {
	if ck, err := c.Cookie(h.sessions.CookieName(CSRFCookieName)); err == nil && wellFormedCSRFToken(ck.Value) {
		if refresh {
			c.SetCookie(h.csrfCookie(ck.Value, int(csrfCookieMaxAge.Seconds())))
		}
		return ck.Value
	}
	t := newCSRFToken()
	c.SetCookie(h.csrfCookie(t, int(csrfCookieMaxAge.Seconds())))
	return t
}

func (h *Handler) csrfCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     h.sessions.CookieName(CSRFCookieName),
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.sessions.SecureCookies(),
		SameSite: http.SameSiteStrictMode,
	}
}
