package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// Healthz says the process is up; it does not touch the database.
func (h *Handler) Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz says whether the database answers.
func (h *Handler) Readyz(c echo.Context) error {
	if err := h.stores.Ping(c.Request().Context(), 2*time.Second); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
