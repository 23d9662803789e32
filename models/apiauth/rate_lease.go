package apiauth

import (
	"strconv"
	"sync"
	"time"
)

// LeaseLifetime is how long units leased from the shared budget stay
// spendable; what is left then is dropped, never handed back.
//
// Units are counted in Redis when leased, so across instances the
// requests allowed never exceed what Redis granted. A unit spent later
// than Redis counted it can let a key go over a strict GCRA, but only
// by what its budget refills within LeaseLifetime (a twentieth of a
// minute's budget at 3 s), and only after an idle spell long enough for
// Redis to have refilled past the lease.
const LeaseLifetime = 3 * time.Second

// A lease is one instance's share of one key's shared budget in one
// category: a few units granted by Redis in one round trip, spent
// locally. A request that finds it empty asks for another and waits for
// it; one that brings it low asks ahead, so that busy keys seldom wait.
// One lease is asked for at a time: concurrent requests for the key wait
// on its mutex and then spend what that lease brought.
type lease struct {
	redisKey  string
	perMinute int
	// pending receives the answer to the lease asked for while inFlight;
	// whoever sends never blocks on it (it holds one answer).
	pending chan grant

	mu sync.Mutex
	// dropped is set when EvictIdle removed the lease from the map; a
	// request holding the old pointer looks again.
	dropped  bool
	lastUsed time.Time

	// The lease being spent: left of granted units, asked for at start
	// (its lifetime counts from then), spent from since on.
	left    int
	granted int
	start   time.Time
	expires time.Time
	since   time.Time
	// The next lease, when it came while the current one still had units.
	nextLeft  int
	nextStart time.Time

	inFlight bool
	asked    time.Time // when the lease in flight was asked for
	// remaining is what Redis said was left of the shared budget after
	// the last lease; leases stay a small part of it.
	remaining int
	// refusedUntil: Redis granted nothing and said when one unit comes
	// back. Nothing hands units back earlier, so until then this
	// instance refuses without asking.
	refusedUntil time.Time
}

// spend takes one unit: from the current lease, else from the next one.
func (l *lease) spend(now time.Time) bool {
	if l.left > 0 && now.Before(l.expires) {
		l.left--
		return true
	}
	if l.nextLeft > 0 && now.Before(l.nextStart.Add(LeaseLifetime)) {
		l.granted, l.left, l.start, l.expires, l.since = l.nextLeft, l.nextLeft-1, l.nextStart, l.nextStart.Add(LeaseLifetime), now
		l.nextLeft = 0
		return true
	}
	return false
}

// size is how many units to ask for: what this instance would spend in
// a lifetime at the pace it spent its current lease (at most eight times
// what it spent of it). The pace is kept over an idle spell: the price is
// one lease dropped unused when a key stops.
func (l *lease) size(now time.Time) int {
	spent := l.granted - l.left
	end := now
	if l.expires.Before(now) {
		end = l.expires
	}
	spending := max(end.Sub(l.since), time.Millisecond)
	n := min(8*spent, int(int64(spent)*int64(LeaseLifetime)/int64(spending)))
	return max(1, min(n, l.largest()))
}

// largest is the largest lease to ask for: a twentieth of the budget and
// an eighth of what Redis last said remained. Budgets under 40 a minute,
// and budgets nearly spent, are leased one unit at a time, only when a
// request needs it: exact across instances.
func (l *lease) largest() int {
	return max(1, min(l.perMinute/20, l.remaining/8))
}

// wantsMore reports whether to ask for the next lease before this one
// runs out: when a quarter of it is left, or of its lifetime, unless
// leases are one unit.
func (l *lease) wantsMore(now time.Time) bool {
	if l.inFlight || l.nextLeft > 0 || l.largest() == 1 {
		return false
	}
	return 4*l.left <= l.granted || !now.Before(l.expires.Add(-LeaseLifetime/4))
}

// collect takes the answer to the lease in flight if it has come.
func (l *lease) collect(now time.Time) {
	if !l.inFlight {
		return
	}
	select {
	case g := <-l.pending:
		l.accept(g, now)
	default:
	}
}

// accept records Redis's answer to the lease in flight.
func (l *lease) accept(g grant, now time.Time) {
	l.inFlight = false
	if g.err != nil {
		return
	}
	l.remaining = g.remaining
	switch {
	case g.allowed == 0:
		if g.retryAfter > 0 {
			l.refusedUntil = l.asked.Add(g.retryAfter)
		}
	case l.left > 0:
		l.nextLeft, l.nextStart = g.allowed, l.asked
	default:
		l.granted, l.left, l.start, l.expires, l.since = g.allowed, g.allowed, l.asked, l.asked.Add(LeaseLifetime), now
	}
}

// leaseFor is the key's lease in the category, locked. sync.Map keeps
// the hot path free of a lock shared by every key.
func (s *SharedRateLimiter) leaseFor(keyID int64, c RateCategory, perMinute int, now time.Time) *lease {
	k := bucketKey{keyID, c}
	for {
		v, ok := s.leases.Load(k)
		if !ok {
			v, _ = s.leases.LoadOrStore(k, &lease{
				redisKey:  gcraKeyPrefix + s.prefix + "rl:" + strconv.FormatInt(keyID, 10) + ":" + strconv.Itoa(int(c)),
				perMinute: perMinute,
				pending:   make(chan grant, 1),
			})
		}
		l := v.(*lease)
		l.mu.Lock()
		if !l.dropped {
			l.lastUsed = now
			return l
		}
		l.mu.Unlock()
	}
}

// EvictIdle drops leases unused for a minute: by then their units have
// expired, any refusal has run out and a fresh lease is the same state.
// One whose answer is still on its way stays until the next sweep.
func (s *SharedRateLimiter) EvictIdle() {
	now := s.now()
	cutoff := now.Add(-time.Minute)
	s.leases.Range(func(k, v any) bool {
		l := v.(*lease)
		l.mu.Lock()
		l.collect(now)
		if !l.inFlight && !l.lastUsed.After(cutoff) {
			l.dropped = true
			s.leases.Delete(k)
		}
		l.mu.Unlock()
		return true
	})
}
