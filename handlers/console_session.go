package handlers

import (
	"github.com/labstack/echo/v4"

	"keydesk/handlers/session"
)

// reauthPolicy is the re-authentication policy the console sessions apply.
func (h *Handler) reauthPolicy() session.Reauth {
	return session.Reauth{Window: h.reauthWindow, Grants: h.stores.Accounts, Now: h.now}
}

// loadSession returns the request's console session (new and empty when it
// carries none).
func (h *Handler) loadSession(c echo.Context) (*session.Session, error) {
	return session.Load(c.Request(), h.sessions, h.reauthPolicy())
}

// freshSession deletes whatever session the request carried and returns a
// new one, which gets a new id when saved.
func (h *Handler) freshSession(c echo.Context) (*session.Session, error) {
	if old, err := h.loadSession(c); err == nil && old.ID() != "" {
		if err := h.sessions.Delete(c.Request().Context(), old.ID()); err != nil {
			return nil, err
		}
	}
	return session.Fresh(h.sessions, h.reauthPolicy()), nil
}
