package apiauth

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"

	"keydesk/models/metrics"
)

// SharedRateLimiter keeps per-key budgets in Redis (GCRA, the script of
// go-redis's redis_rate), so every instance spends from one budget. Each
// instance leases a few units at a time and spends them without a round
// trip (see lease); leases are asked for in batches, one script call per
// round trip (see batchLeases). When Redis fails it falls back to the
// per-instance limiter: the API keeps answering, the switch is logged
// once (and the way back once), counted in
// keydesk_rate_limit_redis_fallbacks_total and shown by /readyz. While
// down, Redis is tried again at most once per RetryInterval, so requests
// do not each wait for a dead server.
type SharedRateLimiter struct {
	limits   RateLimits
	client   *redis.Client
	prefix   string
	fallback *RateLimiter
	logger   *slog.Logger
	now      func() time.Time
	leases   sync.Map // bucketKey → *lease

	jobs        chan leaseJob
	urgent      chan struct{}
	closed      chan struct{}
	batcherDone chan struct{}
	closeOnce   sync.Once

	// down mirrors mu's state for the hot path, which reads it without
	// the lock.
	down      atomic.Bool
	mu        sync.Mutex
	nextProbe time.Time
	lastError string
}

var silenceRedis sync.Once

// RetryInterval is how long the shared limiter leaves Redis alone after a
// failure.
const RetryInterval = time.Second

// NewSharedRateLimiter builds a limiter over the Redis at url (redis://…);
// keys in Redis start with prefix. fallback decides while Redis fails.
// Close stops it.
func NewSharedRateLimiter(url, prefix string, limits RateLimits, fallback *RateLimiter, logger *slog.Logger) (*SharedRateLimiter, error) {
	client, err := newRedisClient(url)
	if err != nil {
		return nil, err
	}
	metrics.RateLimitBackend.WithLabelValues("shared").Set(1)
	metrics.RateLimitBackend.WithLabelValues("local").Set(0)
	s := &SharedRateLimiter{limits: limits, client: client, prefix: prefix, fallback: fallback, logger: logger, now: time.Now,
		jobs: make(chan leaseJob, 4*leaseBatchMax), urgent: make(chan struct{}, 1),
		closed: make(chan struct{}), batcherDone: make(chan struct{})}
	go s.batchLeases()
	return s, nil
}

// newRedisClient connects to the Redis at url (redis://…) for quick
// decisions: short timeouts and no retries.
func newRedisClient(url string) (*redis.Client, error) {
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
	return redis.NewClient(opts), nil
}

// AllowKey spends one request of the key's shared budget of the category:
// from this instance's lease when it holds one, otherwise from a new
// lease it waits for.
func (s *SharedRateLimiter) AllowKey(ctx context.Context, keyID int64, c RateCategory) (bool, time.Duration) {
	return s.AllowKeyLimit(ctx, keyID, c, 0)
}

// AllowKeyLimit is AllowKey with the key's own limit per minute (0: the
// category's default).
func (s *SharedRateLimiter) AllowKeyLimit(_ context.Context, keyID int64, c RateCategory, override int) (bool, time.Duration) {
	perMinute := s.limits.perMinute(c)
	if override > 0 {
		perMinute = override
	}
	if perMinute <= 0 {
		return true, 0
	}
	now := s.now()
	l := s.leaseFor(keyID, c, perMinute, now)
	defer l.mu.Unlock()
	l.perMinute = perMinute
	l.collect(now)
	for asked := 0; !l.spend(now); asked++ {
		if now.Before(l.refusedUntil) {
			return false, l.refusedUntil.Sub(now)
		}
		// Twice a lease came that had run out before this request could
		// spend it: Redis is too slow to wait for.
		if asked == 2 {
			metrics.RateLimitFallbacks.Inc()
			return s.fallback.AllowLimit(keyID, c, override)
		}
		if l.inFlight {
			s.hurry()
		} else if !s.tryRedis() || !s.ask(l, now, true) {
			metrics.RateLimitFallbacks.Inc()
			return s.fallback.AllowLimit(keyID, c, override)
		}
		var g grant
		select {
		case g = <-l.pending:
		case <-s.closed:
			g = grant{err: errLimiterClosed}
		}
		l.accept(g, now)
		if g.err != nil {
			metrics.RateLimitFallbacks.Inc()
			return s.fallback.AllowLimit(keyID, c, override)
		}
	}
	if l.wantsMore(now) && !s.down.Load() {
		s.ask(l, now, false)
	}
	return true, 0
}

// tryRedis reports whether Redis should be asked now.
func (s *SharedRateLimiter) tryRedis() bool {
	if !s.down.Load() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down.Load() {
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
	if s.down.Load() {
		return
	}
	s.down.Store(true)
	metrics.RateLimitBackend.WithLabelValues("shared").Set(0)
	metrics.RateLimitBackend.WithLabelValues("local").Set(1)
	s.logger.Warn("Redis rate limits unavailable; per-key limits are per instance until it answers again", "error", err.Error())
}

func (s *SharedRateLimiter) succeeded() {
	if !s.down.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down.Load() {
		return
	}
	s.down.Store(false)
	s.lastError = ""
	metrics.RateLimitBackend.WithLabelValues("shared").Set(1)
	metrics.RateLimitBackend.WithLabelValues("local").Set(0)
	s.logger.Info("Redis rate limits available again; per-key limits are shared")
}

// Status says which limiter decides: "shared" or "local (Redis unavailable)".
func (s *SharedRateLimiter) Status() string {
	if s.down.Load() {
		return "local (Redis unavailable)"
	}
	return "shared"
}

// Close stops asking for leases and closes the Redis connections; later
// decisions are the fallback's.
func (s *SharedRateLimiter) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	<-s.batcherDone
	return s.client.Close()
}
