package apiauth_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"keydesk/models/apiauth"
)

func TestFailedAuthLimiterPerAddress(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := apiauth.NewFailedAuthLimiter(3, 0, func() time.Time { return now })
	for i := range 3 {
		if blocked, _ := l.Blocked("192.0.2.1"); blocked {
			t.Fatalf("blocked after %d failures of 3", i)
		}
		l.Failed("192.0.2.1")
	}
	blocked, wait := l.Blocked("192.0.2.1")
	if !blocked || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("after 3 failures: blocked %v, retry after %s (want 0 < wait ≤ 20s)", blocked, wait)
	}
	if blocked, _ := l.Blocked("192.0.2.2"); blocked {
		t.Fatal("another address is blocked")
	}
	// The same host under its IPv4-mapped form counts as the same address.
	if blocked, _ := l.Blocked("::ffff:192.0.2.1"); !blocked {
		t.Fatal("IPv4-mapped form of a blocked address is not blocked")
	}
	// IPv6 counts per /64: hopping inside one /64 gains nothing.
	for i := range 3 {
		l.Failed(fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	if blocked, _ := l.Blocked("2001:db8:1:2:ffff::1"); !blocked {
		t.Fatal("another address of the same IPv6 /64 is not blocked")
	}
	if blocked, _ := l.Blocked("2001:db8:1:3::1"); blocked {
		t.Fatal("another IPv6 /64 is blocked")
	}
	// The budget refills at 3 a minute: one more try after 20 s.
	now = now.Add(wait)
	if blocked, _ := l.Blocked("192.0.2.1"); blocked {
		t.Fatalf("still blocked after Retry-After (%s)", wait)
	}
	// Idle addresses are evicted after a minute.
	if n := l.Addresses(); n != 2 {
		t.Fatalf("%d addresses tracked, want 2", n)
	}
	now = now.Add(time.Minute)
	l.EvictIdle()
	if n := l.Addresses(); n != 0 {
		t.Fatalf("%d addresses after eviction, want 0", n)
	}
	// Zero means unlimited; garbage is ignored.
	off := apiauth.NewFailedAuthLimiter(0, 0, func() time.Time { return now })
	for range 100 {
		off.Failed("192.0.2.9")
		l.Failed("not an address")
	}
	if blocked, _ := off.Blocked("192.0.2.9"); blocked || l.Addresses() != 0 {
		t.Fatalf("unlimited limiter blocked (%v) or garbage tracked (%d)", blocked, l.Addresses())
	}
}

// Many addresses cannot grow the limiter without bound.
func TestFailedAuthLimiterIsBounded(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	l := apiauth.NewFailedAuthLimiter(1, 1000, func() time.Time { return now })
	base := netip.MustParseAddr("10.0.0.0").As4()
	for i := range 10_000 {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		l.Failed(netip.AddrFrom4(a).String())
		if n := l.Addresses(); n > 1000 {
			t.Fatalf("%d addresses tracked, bound is 1000", n)
		}
	}
	// The most recent failure is always tracked.
	if blocked, _ := l.Blocked("10.0.39.15"); !blocked {
		t.Fatal("the latest address is not tracked")
	}
}

// BenchmarkFailedAuthBlockedMiss is the check every authenticated request
// makes while other addresses are failing: one lookup, no lock.
func BenchmarkFailedAuthBlockedMiss(b *testing.B) {
	l := apiauth.NewFailedAuthLimiter(60, 0, time.Now)
	for i := range 1000 {
		l.Failed(fmt.Sprintf("198.51.%d.%d", i/256, i%256))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if blocked, _ := l.Blocked("192.0.2.1"); blocked {
				b.Fatal("blocked")
			}
		}
	})
}
