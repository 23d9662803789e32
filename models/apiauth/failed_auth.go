package apiauth

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"keydesk/models/database"
)

// DefaultMaxFailedAuthAddresses bounds how many client addresses a
// FailedAuthLimiter tracks at once.
const DefaultMaxFailedAuthAddresses = 100_000

// FailedAuthLimiter limits failed API authentications per client address,
// so random (checksum-valid, unknown) credentials cannot each buy a
// database lookup: an address that spent its budget of perMinute failures
// (a token bucket refilling at perMinute a minute) is refused before the
// verifier is asked, whatever it presents, valid keys included, until the
// bucket has a token again. Only failures spend the budget.
//
// The check on the success path is a read: an atomic load while no address
// has failed lately, otherwise one lock-free sync.Map lookup; only a
// failure writes. IPv6 addresses count per /64 (what one host or site
// usually holds), IPv4 per address. Memory is bounded: idle addresses are
// evicted (EvictIdle) and at most maxAddresses are tracked, room being
// made like the verifier's cache does. The limiter is per instance.
type FailedAuthLimiter struct {
	perMinute    int
	maxAddresses int
	now          database.Clock

	size  atomic.Int64
	addrs sync.Map // netip.Addr → *bucket
	mu    sync.Mutex
}

// NewFailedAuthLimiter builds a limiter allowing perMinute failures a
// minute per address (0: unlimited) and tracking at most maxAddresses
// (DefaultMaxFailedAuthAddresses when not positive).
func NewFailedAuthLimiter(perMinute, maxAddresses int, now database.Clock) *FailedAuthLimiter {
	if maxAddresses <= 0 {
		maxAddresses = DefaultMaxFailedAuthAddresses
	}
	return &FailedAuthLimiter{perMinute: perMinute, maxAddresses: maxAddresses, now: now}
}

// clientKey is the unit an address is counted in: the address itself for
// IPv4 (IPv4-mapped IPv6 included), its /64 for IPv6. ok is false for a
// string that is no IP address.
func clientKey(addr string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	return ip, true
}

// Blocked reports whether addr has spent its failure budget and, if so,
// how long until it may try again. It spends nothing.
func (l *FailedAuthLimiter) Blocked(addr string) (blocked bool, retryAfter time.Duration) {
	if l == nil || l.perMinute <= 0 || l.size.Load() == 0 {
		return false, 0
	}
	k, ok := clientKey(addr)
	if !ok {
		return false, 0
	}
	v, ok := l.addrs.Load(k)
	if !ok {
		return false, 0
	}
	b := v.(*bucket)
	tokens := b.limiter.TokensAt(l.now())
	if tokens >= 1 {
		return false, 0
	}
	perSecond := float64(l.perMinute) / 60
	return true, time.Duration((1 - tokens) / perSecond * float64(time.Second))
}

// Failed spends one token of addr's failure budget.
func (l *FailedAuthLimiter) Failed(addr string) {
	if l == nil || l.perMinute <= 0 {
		return
	}
	k, ok := clientKey(addr)
	if !ok {
		return
	}
	now := l.now()
	v, ok := l.addrs.Load(k)
	if !ok {
		l.mu.Lock()
		if v, ok = l.addrs.Load(k); !ok {
			if int(l.size.Load()) >= l.maxAddresses {
				l.makeRoomLocked(now)
			}
			v = &bucket{limiter: rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.perMinute)}
			l.addrs.Store(k, v)
			l.size.Add(1)
		}
		l.mu.Unlock()
	}
	b := v.(*bucket)
	b.lastSeen.Store(now.UnixNano())
	b.limiter.AllowN(now, 1)
}

// EvictIdle drops addresses without a failure for a minute or more: their
// buckets have refilled, so a fresh bucket is the same state.
func (l *FailedAuthLimiter) EvictIdle() {
	if l == nil {
		return
	}
	cutoff := l.now().Add(-time.Minute).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.Range(func(k, v any) bool {
		if v.(*bucket).lastSeen.Load() <= cutoff {
			l.addrs.Delete(k)
			l.size.Add(-1)
		}
		return true
	})
}

// makeRoomLocked frees an eighth of a full map: idle addresses first, then
// arbitrary ones. l.mu is held.
func (l *FailedAuthLimiter) makeRoomLocked(now time.Time) {
	cutoff := now.Add(-time.Minute).UnixNano()
	l.addrs.Range(func(k, v any) bool {
		if v.(*bucket).lastSeen.Load() <= cutoff {
			l.addrs.Delete(k)
			l.size.Add(-1)
		}
		return true
	})
	target := int64(l.maxAddresses - max(l.maxAddresses/8, 1))
	l.addrs.Range(func(k, _ any) bool {
		if l.size.Load() <= target {
			return false
		}
		l.addrs.Delete(k)
		l.size.Add(-1)
		return true
	})
}

// Addresses is the number of addresses tracked (tests, metrics).
func (l *FailedAuthLimiter) Addresses() int {
	if l == nil {
		return 0
	}
	return int(l.size.Load())
}
