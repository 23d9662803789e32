package apiauth

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"keydesk/models/database"
)

// AddressLimiter allows perMinute requests a minute per client address (a
// token bucket of perMinute refilling at perMinute a minute), IPv4 per
// address and IPv6 per /64, as FailedAuthLimiter counts them. Unlike that
// one every request spends, and the check and the spending are one step,
// so simultaneous requests never pass the budget. Idle addresses are
// evicted (EvictIdle) and at most maxAddresses are tracked. Per instance.
type AddressLimiter struct {
	perMinute    int
	maxAddresses int
	now          database.Clock

	mu    sync.Mutex
	addrs map[netip.Addr]*addressBucket
}

type addressBucket struct {
	limiter  *rate.Limiter
	lastSeen time.Time
}

// NewAddressLimiter builds a limiter of perMinute requests a minute per
// address (0: unlimited), tracking at most maxAddresses
// (DefaultMaxFailedAuthAddresses when not positive).
func NewAddressLimiter(perMinute, maxAddresses int, now database.Clock) *AddressLimiter {
	if maxAddresses <= 0 {
		maxAddresses = DefaultMaxFailedAuthAddresses
	}
	return &AddressLimiter{perMinute: perMinute, maxAddresses: maxAddresses, now: now, addrs: map[netip.Addr]*addressBucket{}}
}

// Allow spends one request of addr's budget; when none is left it spends
// nothing and says how long until one is. A string that is no IP address
// shares one budget with every other such string.
func (l *AddressLimiter) Allow(addr string) (ok bool, retryAfter time.Duration) {
	if l == nil || l.perMinute <= 0 {
		return true, 0
	}
	k, _ := clientKey(addr)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.addrs[k]
	if !found {
		if len(l.addrs) >= l.maxAddresses {
			l.evictLocked(now, true)
		}
		b = &addressBucket{limiter: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)}
		l.addrs[k] = b
	}
	b.lastSeen = now
	r := b.limiter.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// EvictIdle drops addresses idle for a minute or more: their buckets have
// refilled, so a fresh bucket is the same state.
func (l *AddressLimiter) EvictIdle() {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictLocked(l.now(), false)
}

// evictLocked drops idle addresses and, when full is set and that freed
// nothing, an eighth of the map. l.mu is held.
func (l *AddressLimiter) evictLocked(now time.Time, full bool) {
	cutoff := now.Add(-time.Minute)
	for k, b := range l.addrs {
		if !b.lastSeen.After(cutoff) {
			delete(l.addrs, k)
		}
	}
	if !full || len(l.addrs) < l.maxAddresses {
		return
	}
	target := l.maxAddresses - max(l.maxAddresses/8, 1)
	for k := range l.addrs {
		if len(l.addrs) <= target {
			return
		}
		delete(l.addrs, k)
	}
}
