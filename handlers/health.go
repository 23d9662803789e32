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

// Readyz says whether the database answers, with the details the server
// was given (Deps.Readiness): a degraded dependency that keydesk works
// around, such as Redis, is named but does not make it unready.
func (h *Handler) Readyz(c echo.Context) error {
	if err := h.stores.Ping(c.Request().Context(), 2*time.Second); err != nil {
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": "database unreachable"})
	}
	body := map[string]any{"status": "ready"}
	if h.readiness != nil {
		body["details"] = h.readiness()
	}
	return c.JSON(http.StatusOK, body)
}
