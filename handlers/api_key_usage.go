package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keydesk/views"
)

// usageClients is how many of a key's latest addresses the view lists.
const usageClients = 10

// ShowAPIKeyUsage renders a key's usage over ?range=24h|7d|30d (24 hours
// by default). The key is loaded through the current program: another
// program's key is a 404.
func (h *Handler) ShowAPIKeyUsage(c echo.Context) error {
	key, err := h.loadKey(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	p := principalOf(c)
	now := h.now()
	period := c.QueryParam("range")
	counts, err := h.stores.Usage.Sums(ctx, p.Program.ID, key.ID, views.UsageSince(period, now), views.UsageSumPer(period))
	if err != nil {
		return err
	}
	clients, err := h.stores.Usage.Clients(ctx, p.Program.ID, key.ID, usageClients)
	if err != nil {
		return err
	}
	v := views.NewUsageView(*key, period, counts, clients, now, h.usageFlush)
	if key.Quota > 0 && h.quotaUsed != nil {
		// The quota's ledger may be Redis: while it is down the page shows
		// the rest without the quota line.
		if used, err := h.quotaUsed(ctx, key.ID, key.Quota, key.QuotaPeriod); err != nil {
			h.logger.Warn("quota use unavailable for the usage view", "key_id", key.ID, "error", err.Error())
		} else {
			v.Quota = views.QuotaUse{Used: used, Quota: key.Quota, Period: key.QuotaPeriod}
		}
	}
	return render(c, http.StatusOK, views.APIKeyUsagePage(h.shell(c, "Usage of "+key.Name, views.NavAPIKeys), v))
}

// WithRequests24h gives the API Keys rows each key's requests in the last
// 24 hours (through the request's context, which the rows render with).
func (h *Handler) WithRequests24h(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		byKey, err := h.stores.Usage.RequestsSince(req.Context(), principalOf(c).Program.ID, h.now().Add(-24*time.Hour))
		if err != nil {
			return err
		}
		c.SetRequest(req.WithContext(views.WithRequests24h(req.Context(), byKey)))
		return next(c)
	}
}
