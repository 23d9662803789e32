package web

import (
	"log/slog"

	"keydesk/config"
	"keydesk/models/apiauth"
	"keydesk/models/metrics"
)

// newSharedLimiter builds the Redis-shared limiter when KEYDESK_REDIS_URL
// is set (nil otherwise: per-instance limits, as without Redis).
func newSharedLimiter(cfg config.API, local *apiauth.RateLimiter, logger *slog.Logger) *apiauth.SharedRateLimiter {
	if cfg.RedisURL == "" {
		metrics.RateLimitBackend.WithLabelValues("local").Set(1)
		metrics.RateLimitBackend.WithLabelValues("shared").Set(0)
		return nil
	}
	limits := apiauth.RateLimits{ReadPerMinute: cfg.ReadPerMinute, WritePerMinute: cfg.WritePerMinute}
	shared, err := apiauth.NewSharedRateLimiter(cfg.RedisURL, cfg.RedisKeyPrefix, limits, local, logger)
	if err != nil {
		logger.Error("KEYDESK_REDIS_URL unusable; per-key limits are per instance", "error", err.Error())
		metrics.RateLimitBackend.WithLabelValues("local").Set(1)
		return nil
	}
	return shared
}

// keyLimiter is the limiter the API spends per-key budgets from.
func (rt *apiRuntime) keyLimiter() apiauth.KeyLimiter {
	if rt.shared != nil {
		return rt.shared
	}
	return rt.limiter
}

// readiness adds the rate limit backend to /readyz.
func (rt *apiRuntime) readiness() map[string]string {
	out := map[string]string{"rate_limits": "local", "quotas": "database"}
	if rt.shared != nil {
		out["rate_limits"] = rt.shared.Status()
	}
	if rt.quotaRedis != nil {
		out["quotas"] = rt.quotaRedis.Status()
	}
	return out
}
