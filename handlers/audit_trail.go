package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"keydesk/views"
)

// AuditTrail renders General » Audit Trail.
func (h *Handler) AuditTrail(c echo.Context) error {
	return render(c, http.StatusOK, views.AuditTrailPage(h.shell(c, "Audit Trail", views.NavAuditTrail)))
}
