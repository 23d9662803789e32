package apiauth_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"keydesk/models/apiauth"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// countingLedger is the database's ledger, counting its round trips.
type countingLedger struct {
	*keys.Store
	renewals atomic.Int64
}

func (c *countingLedger) RenewQuotaLease(ctx context.Context, keyID int64, period string, quota, settleGranted, settleSpent, want int64) (keys.QuotaGrant, error) {
	c.renewals.Add(1)
	return c.Store.RenewQuotaLease(ctx, keyID, period, quota, settleGranted, settleSpent, want)
}

// A key far from its quota spends it from leases: thousands of calls cost
// a handful of ledger round trips, and X-Quota-Remaining stays exact for
// sequential calls.
func TestQuotaSpendsFromLeasesNotARoundTripPerCall(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	ledger := &countingLedger{Store: store.Keys}
	e := apiauth.NewQuotaEnforcer(ledger, store.Keys, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer e.Close()
	k := &apiauth.VerifiedKey{KeyID: 1, Quota: 1_000_000, QuotaPeriod: keys.QuotaPeriodDay}
	const calls = 5000
	for i := range calls {
		d, err := e.Spend(t.Context(), k)
		if err != nil || !d.Allowed {
			t.Fatalf("call %d: %+v %v", i, d, err)
		}
		if d.Remaining != k.Quota-int64(i)-1 {
			t.Fatalf("call %d: remaining %d, want %d", i, d.Remaining, k.Quota-int64(i)-1)
		}
	}
	if n := ledger.renewals.Load(); n > 20 {
		t.Fatalf("%d ledger round trips for %d calls", n, calls)
	}
	t.Logf("%d ledger round trips for %d calls", ledger.renewals.Load(), calls)
}

func BenchmarkQuotaSpend(b *testing.B) {
	store := modeltest.NewStores(b, modeltest.SQLite(b))
	e := apiauth.NewQuotaEnforcer(store.Keys, store.Keys, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer e.Close()
	k := &apiauth.VerifiedKey{KeyID: 1, Quota: 1 << 40, QuotaPeriod: keys.QuotaPeriodMonth}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Spend(context.Background(), k); err != nil {
			b.Fatal(err)
		}
	}
}

// The header values a lease keeps formatted follow the key's quota and
// period: a new day moves X-Quota-Reset, a changed quota (a reloaded cache
// entry of the same key) changes X-Quota-Limit and, with a monthly period,
// the reset.
func TestQuotaHeaderValuesFollowPeriodAndQuota(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	now := time.Date(2026, 12, 7, 23, 59, 59, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	e := apiauth.NewQuotaEnforcer(store.Keys, store.Keys, func() time.Time { return *clock.Load() }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer e.Close()
	check := func(what string, k *apiauth.VerifiedKey, limit, reset string) {
		t.Helper()
		d, err := e.Spend(t.Context(), k)
		if err != nil || !d.Allowed {
			t.Fatalf("%s: %+v %v", what, d, err)
		}
		if d.LimitHeader() != limit || d.ResetHeader() != reset {
			t.Fatalf("%s: X-Quota-Limit %q, X-Quota-Reset %q; want %q, %q", what, d.LimitHeader(), d.ResetHeader(), limit, reset)
		}
		if d.ResetHeader() != d.Reset.UTC().Format(time.RFC3339) {
			t.Fatalf("%s: reset header %q disagrees with Reset %v", what, d.ResetHeader(), d.Reset)
		}
	}
	daily := &apiauth.VerifiedKey{KeyID: 7, Quota: 100, QuotaPeriod: keys.QuotaPeriodDay}
	check("first call", daily, "100", "2026-12-08T00:00:00Z")
	check("same day", daily, "100", "2026-12-08T00:00:00Z")
	next := now.Add(2 * time.Second)
	clock.Store(&next)
	check("after midnight", daily, "100", "2026-12-09T00:00:00Z")
	monthly := &apiauth.VerifiedKey{KeyID: 7, Quota: 50, QuotaPeriod: keys.QuotaPeriodMonth}
	check("quota changed to 50 a month", monthly, "50", "2027-01-01T00:00:00Z")
}
