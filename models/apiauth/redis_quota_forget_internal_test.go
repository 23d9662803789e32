package apiauth

import (
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"keydesk/models/keys"
)

// What an instance keeps per key and period for Redis quotas (its last
// lease and its allowance while Redis is down) is dropped once the period
// is older than the previous one: the map no longer grows by every key's
// entry each day.
func TestRedisQuotaLedgerForgetsEndedPeriods(t *testing.T) {
	// A Redis that never answers: every renewal takes the outage path,
	// which records the key's period as well.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	r, err := NewRedisQuotaLedger("redis://"+dead+"/0", "test:", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	spendOnDay := func(day time.Time) {
		t.Helper()
		for _, kind := range []string{keys.QuotaPeriodDay, keys.QuotaPeriodMonth} {
			period, _, _ := keys.QuotaPeriodAt(kind, day)
			if _, err := r.RenewQuotaLease(t.Context(), 7, period, 100, 0, 0, 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	spendOnDay(now.AddDate(0, 0, -3))
	spendOnDay(now.AddDate(0, 0, -1))
	spendOnDay(now)
	spendOnDay(now.AddDate(0, -2, 0)) // a month before the previous one
	if n := len(r.local); n != 6 {
		t.Fatalf("%d entries before, want 6 (4 days, 2 months)", n)
	}
	if dropped := r.ForgetEndedPeriods(); dropped != 3 {
		t.Fatalf("dropped %d, want 3: the day 3 days ago, its month kept; the month two months ago and its day", dropped)
	}
	for k := range r.local {
		switch k.period {
		case "day:2026-12-07", "day:2026-12-06", "month:2026-12":
		default:
			t.Errorf("kept %s", k.period)
		}
	}
	// What is kept still counts: today's allowance stays spent.
	g, err := r.RenewQuotaLease(t.Context(), 7, "day:2026-12-07", 100, 0, 0, 1)
	if err != nil || g.Granted != 0 {
		t.Fatalf("today after forgetting older periods: %+v %v, want the outage allowance already spent", g, err)
	}
}
