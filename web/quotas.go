package web

import (
	"log/slog"

	"keydesk/config"
	"keydesk/models"
	"keydesk/models/apiauth"
)

// newQuotaEnforcer builds the quota enforcer: over Redis when
// KEYDESK_REDIS_URL is set, else over the database's ledger. It returns
// the Redis ledger too (nil without one), for /readyz and Close.
func newQuotaEnforcer(cfg config.API, stores *models.Stores, logger *slog.Logger) (*apiauth.QuotaEnforcer, *apiauth.RedisQuotaLedger) {
	var ledger apiauth.QuotaLedger = stores.Keys
	var shared *apiauth.RedisQuotaLedger
	if cfg.RedisURL != "" {
		r, err := apiauth.NewRedisQuotaLedger(cfg.RedisURL, cfg.RedisKeyPrefix, logger)
		if err != nil {
			logger.Error("KEYDESK_REDIS_URL unusable; quotas are kept in the database", "error", err.Error())
		} else {
			ledger, shared = r, r
		}
	}
	return apiauth.NewQuotaEnforcer(ledger, stores.Keys, stores.Clock, logger), shared
}
