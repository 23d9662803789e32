package apiauth

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"keydesk/models/metrics"
)

// SharedRateLimiter keeps per-key budgets in Redis (GCRA, go-redis's
// redis_rate), so every instance spends from one budget. When Redis fails
// it falls back to the per-instance limiter: the API keeps answering, the
// switch is logged once (and the way back once), counted in
// keydesk_rate_limit_redis_fallbacks_total and shown by /readyz. While
// down, Redis is tried again at most once per RetryInterval, so requests
// do not each wait for a dead server.
type SharedRateLimiter struct {
	limits   RateLimits
	client   *redis.Client
	limiter  *redis_rate.Limiter
	prefix   string
	fallback *RateLimiter
	logger   *slog.Logger
	now      func() time.Time

	mu        sync.Mutex
	down      bool
	nextProbe time.Time
	lastError string
}

var silenceRedis sync.Once

// RetryInterval is how long the shared limiter leaves Redis alone after a
// failure.
const RetryInterval = time.Second

// NewSharedRateLimiter builds a limiter over the Redis at url (redis://…);
// keys in Redis start with prefix. fallback decides while Redis fails.
func NewSharedRateLimiter(url, prefix string, limits RateLimits, fallback *RateLimiter, logger *slog.Logger) (*SharedRateLimiter, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	// A rate limit decision must be quick or not at all: short timeouts,
	// no retries; the fallback answers instead.
	opts.DialTimeout = 250 * time.Millisecond
	opts.ReadTimeout = 250 * time.Millisecond
	opts.WriteTimeout = 250 * time.Millisecond
	opts.MaxRetries = -1
	opts.DialerRetries = 1
	opts.DialerRetryTimeout = 10 * time.Millisecond
	// keydesk says itself, once, that Redis is down; go-redis would say
	// it on every dial.
	silenceRedis.Do(func() { redis.SetLogger(&logging.VoidLogger{}) })
	client := redis.NewClient(opts)
	metrics.RateLimitBackend.WithLabelValues("shared").Set(1)
	metrics.RateLimitBackend.WithLabelValues("local").Set(0)
	return &SharedRateLimiter{limits: limits, client: client, limiter: redis_rate.NewLimiter(client),
		prefix: prefix, fallback: fallback, logger: logger, now: time.Now}, nil
}

// AllowKey spends one request of the key's shared budget of the category.
func (s *SharedRateLimiter) AllowKey(ctx context.Context, keyID int64, c RateCategory) (bool, time.Duration) {
	perMinute := s.limits.perMinute(c)
	if perMinute <= 0 {
		return true, 0
	}
	if !s.tryRedis() {
		metrics.RateLimitFallbacks.Inc()
		return s.fallback.Allow(keyID, c)
	}
	key := s.prefix + "rl:" + strconv.FormatInt(keyID, 10) + ":" + strconv.Itoa(int(c))
	res, err := s.limiter.Allow(context.WithoutCancel(ctx), key, redis_rate.PerMinute(perMinute))
	if err != nil {
		s.failed(err)
		metrics.RateLimitFallbacks.Inc()
		return s.fallback.Allow(keyID, c)
	}
	s.succeeded()
	if res.Allowed > 0 {
		return true, 0
	}
	return false, res.RetryAfter
}

// tryRedis reports whether Redis should be asked now.
func (s *SharedRateLimiter) tryRedis() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return true
	}
	if now := s.now(); !now.Before(s.nextProbe) {
		s.nextProbe = now.Add(RetryInterval)
		return true
	}
	return false
}

func (s *SharedRateLimiter) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextProbe = s.now().Add(RetryInterval)
	s.lastError = err.Error()
	if s.down {
		return
	}
	s.down = true
	metrics.RateLimitBackend.WithLabelValues("shared").Set(0)
	metrics.RateLimitBackend.WithLabelValues("local").Set(1)
	s.logger.Warn("Redis rate limits unavailable; per-key limits are per instance until it answers again", "error", err.Error())
}

func (s *SharedRateLimiter) succeeded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return
	}
	s.down = false
	s.lastError = ""
	metrics.RateLimitBackend.WithLabelValues("shared").Set(1)
	metrics.RateLimitBackend.WithLabelValues("local").Set(0)
	s.logger.Info("Redis rate limits available again; per-key limits are shared")
}

// Status says which limiter decides: "shared" or "local (Redis unavailable)".
func (s *SharedRateLimiter) Status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return "local (Redis unavailable)"
	}
	return "shared"
}

// Close closes the Redis connections.
func (s *SharedRateLimiter) Close() error { return s.client.Close() }
