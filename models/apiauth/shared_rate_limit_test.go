package apiauth

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"keydesk/models/modeltest"
)

// leaseCounter counts the budgets asked for in Redis (the keys of every
// script call), so tests see which decisions made a round trip.
type leaseCounter struct{ keys atomic.Int64 }

func (*leaseCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *leaseCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); cmd.Name() == "evalsha" || cmd.Name() == "eval" {
			if n, ok := args[2].(int); ok {
				c.keys.Add(int64(n))
			}
		}
		return next(ctx, cmd)
	}
}

func (*leaseCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// testClock is a clock tests move by hand, safe to read from the
// limiter's goroutine.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTestShared is a shared limiter of perMinute reads over the test's
// Redis under prefix, with its leases counted.
func newTestShared(t *testing.T, prefix string, perMinute int) (*SharedRateLimiter, *leaseCounter) {
	t.Helper()
	limits := RateLimits{ReadPerMinute: perMinute}
	local := NewRateLimiter(limits, time.Now)
	s, err := NewSharedRateLimiter(modeltest.RedisURL(t), prefix, limits, local, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// Loaded once, so that each lease is one EVALSHA.
	if err := gcraLease.Load(t.Context(), s.client).Err(); err != nil {
		t.Fatal(err)
	}
	counter := &leaseCounter{}
	s.client.AddHook(counter)
	return s, counter
}

func TestGCRALeaseScriptIsRedisRate(t *testing.T) {
	s, _ := newTestShared(t, modeltest.RedisPrefix(), 10)
	ctx := t.Context()
	library := redis_rate.NewLimiter(s.client)
	// An hour's budget of 10: nothing refills while the test runs.
	limit := redis_rate.Limit{Rate: 10, Burst: 10, Period: time.Hour}
	lease := func(key string, n int) grant {
		t.Helper()
		reply, err := gcraLease.Run(ctx, s.client, []string{gcraKeyPrefix + key}, 10, 10, time.Hour.Seconds(), n).Result()
		if err != nil {
			t.Fatal(err)
		}
		grants, err := parseGrants(reply, 1)
		if err != nil {
			t.Fatal(err)
		}
		return grants[0]
	}
	spend := func(key string, n int) grant {
		t.Helper()
		res, err := library.AllowAtMost(ctx, key, limit, n)
		if err != nil {
			t.Fatal(err)
		}
		return grant{allowed: res.Allowed, remaining: res.Remaining, retryAfter: max(res.RetryAfter, 0)}
	}

	// The same asks on twin budgets: the same answers.
	mine, theirs := s.prefix+"twin-a", s.prefix+"twin-b"
	for _, n := range []int{3, 4, 5, 2} {
		got, want := lease(mine, n), spend(theirs, n)
		if got.allowed != want.allowed || got.remaining != want.remaining || (got.retryAfter-want.retryAfter).Abs() > time.Second {
			t.Fatalf("asking for %d: script %+v, redis_rate %+v", n, got, want)
		}
	}
	// One budget spent by both: 10 in all, whoever asks.
	shared := s.prefix + "shared"
	total := 0
	for i := range 6 {
		var g grant
		if i%2 == 0 {
			g = spend(shared, 3)
		} else {
			g = lease(shared, 3)
		}
		total += g.allowed
	}
	if total != 10 {
		t.Fatalf("redis_rate and the script together were granted %d of a budget of 10", total)
	}
}

func TestLeaseSizeFollowsDemandAndBudget(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// spending is a lease of granted units asked for at start, left of
	// them unspent, spent from start+since on.
	spending := func(perMinute, remaining, granted, left int, since time.Duration) *lease {
		return &lease{perMinute: perMinute, remaining: remaining, granted: granted, left: left,
			start: start, expires: start.Add(LeaseLifetime), since: start.Add(since)}
	}
	cases := []struct {
		name  string
		lease *lease
		at    time.Duration // after start
		want  int
	}{
		{"first lease", &lease{perMinute: 600}, 0, 1},
		{"small budget, spent at once", spending(10, 9, 1, 0, 0), time.Millisecond, 1},
		{"spent at once: eightfold", spending(600, 590, 1, 0, 0), time.Millisecond, 8},
		{"6 in a second: 18 in a lifetime", spending(600, 500, 6, 0, 0), time.Second, 18},
		{"no more than a twentieth of the budget", spending(600, 500, 20, 0, 0), time.Second, 30},
		{"no more than an eighth of what remains", spending(600, 80, 20, 0, 0), time.Second, 10},
		{"nearly spent: one at a time", spending(600, 15, 20, 0, 0), time.Second, 1},
		{"expired with 4 of 10 left: 6", spending(600, 500, 10, 4, 0), LeaseLifetime, 6},
		{"asked ahead, spent 3 in its last 1.5 s: 6", spending(600, 500, 8, 5, LeaseLifetime/2), LeaseLifetime, 6},
		{"idle an hour: the pace is kept", spending(600, 500, 10, 4, 0), time.Hour, 6},
	}
	for _, c := range cases {
		if got := c.lease.size(start.Add(c.at)); got != c.want {
			t.Errorf("%s: size %d, want %d", c.name, got, c.want)
		}
	}
	// Budgets leased one unit at a time are never leased ahead.
	if spending(39, 38, 1, 0, 0).wantsMore(start) || spending(600, 15, 8, 1, 0).wantsMore(start) {
		t.Error("a lease of one unit was asked for ahead")
	}
	// Others are when a quarter of the lease is left, or of its lifetime.
	cases2 := []struct {
		name  string
		lease *lease
		at    time.Duration
		want  bool
	}{
		{"6 of 8 left, early", spending(600, 500, 8, 6, 0), time.Second, false},
		{"2 of 8 left", spending(600, 500, 8, 2, 0), time.Second, true},
		{"6 of 8 left, in the last quarter of its life", spending(600, 500, 8, 6, 0), LeaseLifetime * 3 / 4, true},
		{"one asked already", &lease{perMinute: 600, remaining: 500, granted: 8, left: 1, inFlight: true}, 0, false},
		{"the next one is here", &lease{perMinute: 600, remaining: 500, granted: 8, left: 1, nextLeft: 8}, 0, false},
	}
	for _, c := range cases2 {
		if got := c.lease.wantsMore(start.Add(c.at)); got != c.want {
			t.Errorf("%s: asks ahead %v, want %v", c.name, got, c.want)
		}
	}
}

// leaseOf is the limiter's lease of a key's reads.
func leaseOf(t *testing.T, s *SharedRateLimiter, keyID int64) *lease {
	t.Helper()
	v, ok := s.leases.Load(bucketKey{keyID, RateRead})
	if !ok {
		t.Fatalf("no lease for key %d", keyID)
	}
	return v.(*lease)
}

// waitForAnswer waits until the lease asked for ahead has come back.
func waitForAnswer(t *testing.T, l *lease) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(l.pending) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the lease asked for ahead never came")
		}
		time.Sleep(time.Millisecond)
	}
}

func allow(t *testing.T, s *SharedRateLimiter, keyID int64) (bool, time.Duration) {
	t.Helper()
	return s.AllowKey(t.Context(), keyID, RateRead)
}

func TestLeaseIsSpentLocallyAndDroppedWhenItExpires(t *testing.T) {
	s, leased := newTestShared(t, modeltest.RedisPrefix(), 600)
	clock := newTestClock()
	s.now = clock.now
	const key = 1

	// The first request leases one unit and asks ahead for 8 more.
	if ok, _ := allow(t, s, key); !ok {
		t.Fatal("first request refused")
	}
	l := leaseOf(t, s, key)
	waitForAnswer(t, l)
	if got := leased.keys.Load(); got != 2 {
		t.Fatalf("%d leases asked for, want 2 (one now, one ahead)", got)
	}
	// Spent locally: no round trip while the lease lasts.
	clock.advance(LeaseLifetime / 2)
	for i := range 3 {
		if ok, _ := allow(t, s, key); !ok {
			t.Fatalf("request %d refused", i+2)
		}
	}
	if got := leased.keys.Load(); got != 2 {
		t.Fatalf("%d leases asked for while the lease held units, want still 2", got)
	}
	l.mu.Lock()
	granted, left := l.granted, l.left
	l.mu.Unlock()
	if granted != 8 || left != 5 {
		t.Fatalf("lease of %d with %d left, want 8 with 5 left", granted, left)
	}

	// The lease was asked for at the first request: one lifetime after
	// it, its 5 units are gone and the next request asks Redis, for what
	// it would spend in a lifetime at the pace it spent the last lease (3
	// in 1.5 s).
	clock.advance(LeaseLifetime - LeaseLifetime/2)
	if ok, _ := allow(t, s, key); !ok {
		t.Fatal("request after the lease expired refused")
	}
	if got := leased.keys.Load(); got != 3 {
		t.Fatalf("%d leases asked for, want 3: an expired lease must not be spent", got)
	}
	l.mu.Lock()
	granted, left = l.granted, l.left
	l.mu.Unlock()
	if granted != 6 || left != 5 {
		t.Fatalf("new lease of %d with %d left, want 6 with 5 left", granted, left)
	}
}

func TestIdleLeasesAreEvicted(t *testing.T) {
	s, _ := newTestShared(t, modeltest.RedisPrefix(), 600)
	clock := newTestClock()
	s.now = clock.now
	// Key 1 leases one unit and asks ahead; key 2 stays busy.
	allow(t, s, 1)
	waitForAnswer(t, leaseOf(t, s, 1))
	clock.advance(30 * time.Second)
	allow(t, s, 2)
	clock.advance(30 * time.Second)
	s.EvictIdle()
	if _, ok := s.leases.Load(bucketKey{1, RateRead}); ok {
		t.Error("a lease idle for a minute (its answer asked ahead never collected) was kept")
	}
	if _, ok := s.leases.Load(bucketKey{2, RateRead}); !ok {
		t.Error("a lease used 30 s ago was evicted")
	}
	// The evicted key starts afresh.
	if ok, _ := allow(t, s, 1); !ok {
		t.Error("the evicted key was refused")
	}
}

func TestRefusalIsAnsweredLocallyUntilRetryAfter(t *testing.T) {
	s, leased := newTestShared(t, modeltest.RedisPrefix(), 10)
	clock := newTestClock()
	s.now = clock.now
	const key = 7
	for i := range 10 {
		if ok, _ := allow(t, s, key); !ok {
			t.Fatalf("request %d of a budget of 10 refused", i+1)
		}
	}
	// A budget of 10 is leased one unit at a time, never ahead.
	if got := leased.keys.Load(); got != 10 {
		t.Fatalf("%d leases for 10 requests of a budget of 10, want 10", got)
	}
	ok, wait := allow(t, s, key)
	if ok || wait <= 0 || wait > 6*time.Second {
		t.Fatalf("11th request: ok=%v wait=%v, want refused for at most 6 s", ok, wait)
	}
	if got := leased.keys.Load(); got != 11 {
		t.Fatalf("%d leases asked for, want 11", got)
	}
	clock.advance(wait / 2)
	if ok, again := allow(t, s, key); ok || again <= 0 || again > wait {
		t.Fatalf("during the wait: ok=%v wait=%v", ok, again)
	}
	if got := leased.keys.Load(); got != 11 {
		t.Fatalf("a refusal within Retry-After asked Redis (%d leases)", got)
	}
	// After it, Redis is asked again.
	clock.advance(wait)
	allow(t, s, key)
	if got := leased.keys.Load(); got != 12 {
		t.Fatalf("after Retry-After: %d leases asked for, want 12", got)
	}
}

func TestInstancesNeverAllowMoreThanTheSharedBudget(t *testing.T) {
	prefix := modeltest.RedisPrefix()
	const budget, keys, callsPerKey, instances = 600, 3, 1000, 3
	var limiters []*SharedRateLimiter
	for range instances {
		s, _ := newTestShared(t, prefix, budget)
		limiters = append(limiters, s)
	}
	var allowed [keys]atomic.Int64
	var next atomic.Int64
	started := time.Now()
	var wg sync.WaitGroup
	for range 48 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= keys*callsPerKey {
					return
				}
				key := i % keys
				if ok, _ := limiters[i%instances].AllowKey(context.Background(), 100+key, RateRead); ok {
					allowed[key].Add(1)
				}
			}
		})
	}
	wg.Wait()
	// The budget refills at 10 a second while the test runs.
	ceiling := budget + int64(math.Ceil(time.Since(started).Seconds()*budget/60))
	for k := range allowed {
		got := allowed[k].Load()
		t.Logf("key %d: %d of %d calls allowed (budget %d, at most %d with what refilled)", k, got, callsPerKey, budget, ceiling)
		if got > ceiling {
			t.Errorf("key %d: %d allowed across %d instances, more than the budget (%d with what refilled)", k, got, instances, ceiling)
		}
		if got < budget*98/100 {
			t.Errorf("key %d: %d allowed of a budget of %d: more than 2%% lost to unspent leases", k, got, budget)
		}
	}
}

func TestClosedLimiterFallsBackWithoutWaiting(t *testing.T) {
	s, _ := newTestShared(t, modeltest.RedisPrefix(), 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan [3]bool)
	go func() {
		var got [3]bool
		for i := range got {
			got[i], _ = s.AllowKey(context.Background(), 1, RateRead)
		}
		done <- got
	}()
	select {
	case got := <-done:
		if got != [3]bool{true, true, false} {
			t.Fatalf("after Close: %v, want the local budget of 2", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request after Close waited for Redis")
	}
}
