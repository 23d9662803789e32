package handlers

import (
	"errors"
	"keydesk/handlers/htmx"
	"keydesk/handlers/session"
	"keydesk/models/accounts"
	"keydesk/models/database"
	sessionstore "keydesk/models/sessions"
	"keydesk/routes"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// SessionMaxLifetime is a console session's absolute lifetime (the
// session type applies it; the cookie store's MaxAge follows it).
const SessionMaxLifetime = session.MaxLifetime

// Principal is the signed-in admin acting on one program.
type Principal struct {
	Admin       *accounts.Admin
	Program     accounts.Program
	Membership  accounts.Membership
	Memberships []accounts.MembershipWithProgram
	Session     *session.Session
}

const principalKey = "keydesk.principal"

func principalOf(c echo.Context) *Principal {
	p, _ := c.Get(principalKey).(*Principal)
	return p
}

// isRead reports whether the request is a GET or a HEAD, which answers
// as its GET does.
func isRead(c echo.Context) bool {
	m := c.Request().Method
	return m == http.MethodGet || m == http.MethodHead
}

// hasSessionCookie reports whether the request carries a session cookie
// (live or not).
func (h *Handler) hasSessionCookie(c echo.Context) bool {
	_, err := c.Cookie(h.sessions.CookieName(session.CookieName))
	return err == nil
}

// LoadSession reads the session cookie, enforces the idle and absolute
// timeouts, and puts the principal into the context. It never refuses a
// request itself: RequireAdmin does.
func (h *Handler) LoadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !h.hasSessionCookie(c) {
			return next(c)
		}
		sess, err := h.loadSession(c)
		if errors.Is(err, sessionstore.ErrRotated) {
			return sessionChanged(c, next)
		}
		if err != nil {
			// A database outage: the error handler's 503, never a
			// signed-out page.
			return err
		}
		if sess.IsNew() {
			return next(c)
		}
		adminID := sess.AdminID()
		if adminID == 0 {
			return next(c)
		}
		now := h.now()
		if sess.Expired(now) {
			h.destroySession(c, sess)
			return next(c)
		}
		admin, err := h.stores.Accounts.AdminByID(c.Request().Context(), adminID)
		if errors.Is(err, database.ErrNotFound) {
			h.destroySession(c, sess)
			return next(c)
		}
		if err != nil {
			return err
		}
		memberships, err := h.stores.Accounts.Memberships(c.Request().Context(), admin.ID)
		if err != nil {
			return err
		}
		// A session acts only on the programs its way of signing in
		// may reach (single sign-on: that program; a password: those
		// not requiring single sign-on).
		memberships = usableMemberships(sess.SSOProgram(), memberships)
		if len(memberships) == 0 {
			h.destroySession(c, sess)
			return next(c)
		}
		programID := sess.ProgramID()
		current := memberships[0]
		for _, m := range memberships {
			if m.Program.ID == programID {
				current = m
			}
		}
		if sess.Touch(now) {
			switch err := sess.Save(c.Request(), c.Response()); {
			case errors.Is(err, sessionstore.ErrRotated):
				// A re-authentication rotated the id since this request
				// loaded it.
				return sessionChanged(c, next)
			case errors.Is(err, sessionstore.ErrGone):
				// Signed out (or removed) since this request loaded it.
				return next(c)
			case err != nil:
				return err
			}
		}
		c.Set(principalKey, &Principal{
			Admin:       admin,
			Program:     current.Program,
			Membership:  current.Membership,
			Memberships: memberships,
			Session:     sess,
		})
		return next(c)
	}
}

func (h *Handler) destroySession(c echo.Context, sess *session.Session) {
	if err := sess.Destroy(c.Request(), c.Response()); err != nil {
		h.logger.Warn("unable to delete session", "error", err)
	}
}

// RequireAdmin sends anonymous visitors to the sign-in page (htmx requests
// get a redirect header, API-style callers a 401).
func (h *Handler) RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if principalOf(c) != nil {
			return next(c)
		}
		target := h.loginTarget(c)
		if htmx.IsRequest(c) {
			htmx.Redirect(c, target)
			return c.NoContent(http.StatusUnauthorized)
		}
		if !isRead(c) {
			return echo.NewHTTPError(http.StatusUnauthorized, "Sign in to continue.")
		}
		return c.Redirect(http.StatusSeeOther, target)
	}
}

// loginTarget is the sign-in page for a request without a live session:
// it returns to the page the admin was on (for an htmx action, the page it
// came from) and, when the request carried a session cookie or came from a
// console page's htmx (only signed-in pages make those, and a sign-out in
// another tab removes the cookie), says the session ended.
func (h *Handler) loginTarget(c echo.Context) string {
	q := url.Values{}
	switch {
	case htmx.IsRequest(c):
		if page := safeNext(htmx.CurrentPage(c)); page != "" {
			q.Set("next", page)
		}
	case isRead(c):
		q.Set("next", c.Request().URL.RequestURI())
	}
	if h.hasSessionCookie(c) || htmx.IsRequest(c) {
		q.Set("ended", "1")
	}
	if len(q) == 0 {
		return routes.Login
	}
	return routes.Login + "?" + q.Encode()
}

// RequireFullAccess refuses every admin without full access to the program,
// pages, fragments and POSTs alike, and audits the refusal.
func (h *Handler) RequireFullAccess(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p := principalOf(c)
		if p == nil || !p.Membership.IsFull() {
			return h.refuse(c)
		}
		return next(c)
	}
}

// RequireModule refuses admins whose membership lacks module.
func (h *Handler) RequireModule(module string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principalOf(c)
			if p == nil || !p.Membership.HasModule(module) {
				return h.refuse(c)
			}
			return next(c)
		}
	}
}

func (h *Handler) refuse(c echo.Context) error {
	if p := principalOf(c); p != nil {
		if err := h.stores.Audit.RecordRefusal(c.Request().Context(), p.Program.ID, actor(c), c.Request().Method+" "+c.Path()); err != nil {
			return err
		}
	}
	return echo.NewHTTPError(http.StatusForbidden, "You do not have access to this section. Ask a full-access admin of this program.")
}

// HeaderSessionChanged marks the answer to a request that raced a session
// rotation: nothing was done, and app.js retries it once with the new
// cookie the browser now holds.
const HeaderSessionChanged = "X-Keydesk-Session-Changed"

// sessionChanged answers an htmx request that carried a session id rotated
// a moment ago: nothing ran, and app.js retries it with the new cookie. Any
// other request goes on as anonymous (a page load is sent to sign in, which
// a browser holding the new cookie passes straight through), so a copied
// old cookie never loops.
func sessionChanged(c echo.Context, next echo.HandlerFunc) error {
	if c.Request().Header.Get("HX-Request") != "true" {
		return next(c)
	}
	c.Response().Header().Set(HeaderSessionChanged, "retry")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(http.StatusConflict, "Your session changed while this request was on its way. Nothing was done; try again.")
}
