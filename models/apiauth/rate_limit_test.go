package apiauth_test

import (
	"keydesk/models/apiauth"
	"testing"
	"time"
)

func TestRateLimiterPerKeyAndCategory(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rl := apiauth.NewRateLimiter(apiauth.RateLimits{ReadPerMinute: 3, WritePerMinute: 1}, func() time.Time { return now })

	for i := range 3 {
		if ok, _ := rl.Allow(1, apiauth.RateRead); !ok {
			t.Fatalf("read %d refused within the budget", i+1)
		}
	}
	ok, wait := rl.Allow(1, apiauth.RateRead)
	if ok || wait <= 0 || wait > 20*time.Second {
		t.Fatalf("4th read: ok=%v wait=%v, want refused with a wait of at most 20s", ok, wait)
	}
	// Writes have their own budget; another key has its own too.
	if ok, _ := rl.Allow(1, apiauth.RateWrite); !ok {
		t.Fatal("write refused although only reads were spent")
	}
	if ok, _ := rl.Allow(1, apiauth.RateWrite); ok {
		t.Fatal("second write passed a budget of one")
	}
	if ok, _ := rl.Allow(2, apiauth.RateRead); !ok {
		t.Fatal("another key was limited by the first key's reads")
	}
	// A refused request costs nothing: after the wait exactly one passes.
	now = now.Add(wait)
	if ok, _ := rl.Allow(1, apiauth.RateRead); !ok {
		t.Fatal("read refused after the advertised wait")
	}
	if ok, _ := rl.Allow(1, apiauth.RateRead); ok {
		t.Fatal("two reads passed after one token refilled")
	}

	if rl.Buckets() != 3 {
		t.Fatalf("buckets = %d, want 3", rl.Buckets())
	}
	now = now.Add(time.Minute)
	rl.EvictIdle()
	if rl.Buckets() != 0 {
		t.Fatalf("idle buckets kept: %d", rl.Buckets())
	}

	unlimited := apiauth.NewRateLimiter(apiauth.RateLimits{}, time.Now)
	for range 1000 {
		if ok, _ := unlimited.Allow(1, apiauth.RateWrite); !ok {
			t.Fatal("a limit of 0 must mean unlimited")
		}
	}
	if unlimited.Buckets() != 0 {
		t.Fatal("unlimited categories need no buckets")
	}
}

// Retry-After is whole seconds, rounded up, and never 0 (a client would
// retry at once).
func TestRetryAfterIsWholeSecondsAtLeastOne(t *testing.T) {
	for wait, want := range map[time.Duration]string{0: "1", -time.Second: "1", 300 * time.Millisecond: "1", time.Second: "1", 1200 * time.Millisecond: "2", 59 * time.Second: "59"} {
		if got := apiauth.RetryAfter(wait); got != want {
			t.Errorf("RetryAfter(%s) = %q, want %q", wait, got, want)
		}
	}
}
