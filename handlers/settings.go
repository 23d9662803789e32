package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/views"
)

// Settings renders General » Settings: partner ID and the default key.
func (h *Handler) Settings(c echo.Context) error {
	p := principalOf(c)
	key, err := h.stores.Keys.Default(c.Request().Context(), p.Program.ID)
	if err != nil {
		return err
	}
	days, err := h.stores.Keys.MaxKeyLifetime(c.Request().Context(), p.Program.ID)
	if err != nil {
		return err
	}
	leakResponse, err := h.stores.Keys.LeakResponse(c.Request().Context(), p.Program.ID)
	if err != nil {
		return err
	}
	mail, err := h.mailNotice(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SettingsPage(h.shell(c, "Settings", views.NavSettings), p.Program, *key, days, leakResponse, mail))
}
