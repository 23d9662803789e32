package apiauth

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"keydesk/models/database"

	"golang.org/x/time/rate"
)

// RateCategory separates an API key's budgets: reads and writes are
// limited independently.
type RateCategory int

// The rate categories.
const (
	RateRead RateCategory = iota
	RateWrite
)

// RateLimits are requests per minute per key and category; 0 means
// unlimited. A key may spend its whole minute's budget in a burst.
type RateLimits struct {
	ReadPerMinute  int
	WritePerMinute int
}

func (l RateLimits) perMinute(c RateCategory) int {
	if c == RateWrite {
		return l.WritePerMinute
	}
	return l.ReadPerMinute
}

type bucketKey struct {
	keyID    int64
	category RateCategory
}

type bucket struct {
	limiter  *rate.Limiter
	lastSeen atomic.Int64 // unix nanoseconds
	// perMinute is the limit the bucket was set to.
	perMinute atomic.Int64
}

// RateLimiter is a token bucket per key and category, kept in memory (so
// per instance). Buckets idle long enough to have refilled are evicted.
type RateLimiter struct {
	limits RateLimits
	now    database.Clock

	mu      sync.RWMutex
	buckets map[bucketKey]*bucket
}

// NewRateLimiter builds a limiter with the given limits.
func NewRateLimiter(limits RateLimits, now database.Clock) *RateLimiter {
	return &RateLimiter{limits: limits, now: now, buckets: map[bucketKey]*bucket{}}
}

// Allow takes one request from the key's bucket of the category. When the
// bucket is empty it returns false and how long until a request would pass.
func (r *RateLimiter) Allow(keyID int64, c RateCategory) (ok bool, retryAfter time.Duration) {
	return r.AllowLimit(keyID, c, 0)
}

// AllowLimit is Allow with the key's own limit per minute (override; 0:
// the category's default).
func (r *RateLimiter) AllowLimit(keyID int64, c RateCategory, override int) (ok bool, retryAfter time.Duration) {
	perMinute := r.limits.perMinute(c)
	if override > 0 {
		perMinute = override
	}
	if perMinute <= 0 {
		return true, 0
	}
	k := bucketKey{keyID, c}
	now := r.now()
	r.mu.RLock()
	b := r.buckets[k]
	r.mu.RUnlock()
	if b == nil {
		r.mu.Lock()
		if b = r.buckets[k]; b == nil {
			b = &bucket{limiter: rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute)}
			b.perMinute.Store(int64(perMinute))
			r.buckets[k] = b
		}
		r.mu.Unlock()
	}
	if int64(perMinute) != b.perMinute.Load() {
		// The key's limit changed: the bucket keeps its tokens, at the new
		// rate and burst.
		b.perMinute.Store(int64(perMinute))
		b.limiter.SetLimitAt(now, rate.Limit(float64(perMinute)/60))
		b.limiter.SetBurstAt(now, perMinute)
	}
	b.lastSeen.Store(now.UnixNano())
	if b.limiter.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.limiter.TokensAt(now)
	return false, time.Duration(missing / float64(b.limiter.Limit()) * float64(time.Second))
}

// RetryAfter is a limiter's wait as a Retry-After value: whole seconds,
// rounded up, at least one.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds())))
}

// EvictIdle drops buckets unused for a minute or more: by then they have
// refilled, so a fresh bucket is the same state.
func (r *RateLimiter) EvictIdle() {
	cutoff := r.now().Add(-time.Minute).UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, b := range r.buckets {
		if b.lastSeen.Load() <= cutoff {
			delete(r.buckets, k)
		}
	}
}

// Buckets is the number of buckets held (tests, metrics).
func (r *RateLimiter) Buckets() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.buckets)
}

// KeyLimiter decides whether a key may make one more request of a
// category: the per-instance RateLimiter, or the Redis-shared one.
type KeyLimiter interface {
	AllowKey(ctx context.Context, keyID int64, c RateCategory) (ok bool, retryAfter time.Duration)
	// AllowKeyLimit is AllowKey with the key's own limit per minute, which
	// replaces the category's default when above 0.
	AllowKeyLimit(ctx context.Context, keyID int64, c RateCategory, override int) (ok bool, retryAfter time.Duration)
}

// AllowKey is Allow as a KeyLimiter.
func (r *RateLimiter) AllowKey(_ context.Context, keyID int64, c RateCategory) (bool, time.Duration) {
	return r.Allow(keyID, c)
}

// AllowKeyLimit is AllowLimit as a KeyLimiter.
func (r *RateLimiter) AllowKeyLimit(_ context.Context, keyID int64, c RateCategory, override int) (bool, time.Duration) {
	return r.AllowLimit(keyID, c, override)
}
