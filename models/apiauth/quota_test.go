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
