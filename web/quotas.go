package web

import (
	"log/slog"

	"keydesk/config"
	"keydesk/models"
	"keydesk/models/apiauth"
)

// newQuotaEnforcer builds the quota enforcer over the database's ledger.
func newQuotaEnforcer(_ config.API, stores *models.Stores, logger *slog.Logger) *apiauth.QuotaEnforcer {
	return apiauth.NewQuotaEnforcer(stores.Keys, stores.Keys, stores.Clock, logger)
}
