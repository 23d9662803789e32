package web

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"keydesk/models/apiauth"
)

// APIConfig tunes the REST and UI API, read from the environment:
//
//	KEYDESK_API_READ_LIMIT          requests per minute per key for reads (GET); default 600, 0 = unlimited
//	KEYDESK_API_WRITE_LIMIT         requests per minute per key for writes (POST); default 120, 0 = unlimited
//	KEYDESK_API_FAILED_AUTH_LIMIT   failed API authentications per minute per client address before
//	                                the address gets 429 without any lookup; default 60, 0 = unlimited
//	KEYDESK_API_LAST_USED_INTERVAL  how often "last used" is written to the database; default 1m
//	KEYDESK_API_KEY_CACHE_TTL       how long a verified key is trusted without asking the database
//	                                (the backstop behind LISTEN/NOTIFY revocation); default 30s, at most 5m
//	KEYDESK_REDIS_URL               redis://host:port/db: per-key limits shared by every instance
//	                                (without it, per instance)
//	KEYDESK_JWT_MAX_LIFETIME        how far ahead a UI token's exp may lie (a token minted for longer
//	                                is refused); default 1h, from 1s to 24h
type APIConfig struct {
	ReadPerMinute  int
	WritePerMinute int
	// FailedAuthPerMinute is per client address; see KEYDESK_API_FAILED_AUTH_LIMIT.
	FailedAuthPerMinute int
	LastUsedInterval    time.Duration
	KeyCacheTTL         time.Duration
	JWTMaxLifetime      time.Duration
	// RedisURL (KEYDESK_REDIS_URL) shares per-key budgets through Redis;
	// RedisKeyPrefix starts every key keydesk writes there.
	RedisURL       string
	RedisKeyPrefix string
}

// DefaultAPIConfig is the configuration without any variable set.
func DefaultAPIConfig() APIConfig {
	return APIConfig{
		ReadPerMinute:       600,
		WritePerMinute:      120,
		FailedAuthPerMinute: 60,
		LastUsedInterval:    time.Minute,
		KeyCacheTTL:         30 * time.Second,
		JWTMaxLifetime:      apiauth.DefaultUITokenMaxLifetime,
		RedisKeyPrefix:      "keydesk:",
	}
}

// APIConfigFromEnv parses the API's environment variables.
func APIConfigFromEnv() (APIConfig, error) {
	cfg := DefaultAPIConfig()
	if v := os.Getenv("KEYDESK_REDIS_URL"); v != "" {
		if _, err := redis.ParseURL(v); err != nil {
			return cfg, fmt.Errorf("KEYDESK_REDIS_URL must be a redis:// URL such as redis://127.0.0.1:6379/0: %w", err)
		}
		cfg.RedisURL = v
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{
		{"KEYDESK_API_READ_LIMIT", &cfg.ReadPerMinute},
		{"KEYDESK_API_WRITE_LIMIT", &cfg.WritePerMinute},
		{"KEYDESK_API_FAILED_AUTH_LIMIT", &cfg.FailedAuthPerMinute},
	} {
		s := os.Getenv(v.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return cfg, fmt.Errorf("%s must be a number of requests per minute (0 for no limit), got %q", v.name, s)
		}
		*v.dst = n
	}
	for _, v := range []struct {
		name     string
		dst      *time.Duration
		min, max time.Duration
	}{
		{"KEYDESK_API_LAST_USED_INTERVAL", &cfg.LastUsedInterval, time.Millisecond, time.Hour},
		{"KEYDESK_API_KEY_CACHE_TTL", &cfg.KeyCacheTTL, time.Millisecond, 5 * time.Minute},
		{"KEYDESK_JWT_MAX_LIFETIME", &cfg.JWTMaxLifetime, time.Second, 24 * time.Hour},
	} {
		s := os.Getenv(v.name)
		if s == "" {
			continue
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < v.min || d > v.max {
			return cfg, fmt.Errorf("%s must be a duration from %s to %s, got %q", v.name, v.min, v.max, s)
		}
		*v.dst = d
	}
	return cfg, nil
}
