package apiauth

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"keydesk/models/keys"
)

// memoryLedger is a ledger in memory with the database's rules: a renewal
// settles the previous lease and never hands out more than is left.
type memoryLedger struct {
	mu             sync.Mutex
	used, reserved int64
	renewals       int
}

func (m *memoryLedger) RenewQuotaLease(_ context.Context, _ int64, _ string, quota, settleGranted, settleSpent, want int64) (keys.QuotaGrant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.renewals++
	m.used += settleSpent
	m.reserved -= settleGranted
	take := max(0, min(want, quota-m.used-m.reserved))
	m.reserved += take
	return keys.QuotaGrant{Granted: take, Used: m.used, Reserved: m.reserved}, nil
}

func (m *memoryLedger) QuotaUse(context.Context, int64, string) (int64, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used, m.reserved, nil
}

// A long lease spent from at any time of its life is renewed when it ends
// (a key used in bursts finds units at its next burst, with no renewal on
// the call's path); a lease nobody spent from gives its units back.
func TestQuotaLeaseEndRenewsWhatWasSpentFromAndReturnsWhatWasNot(t *testing.T) {
	ledger := &memoryLedger{}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var clock sync.Mutex
	e := NewQuotaEnforcer(ledger, nil, func() time.Time { clock.Lock(); defer clock.Unlock(); return now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer e.Close()
	k := &VerifiedKey{KeyID: 1, Quota: 1_000_000, QuotaPeriod: keys.QuotaPeriodDay}
	for range 3 {
		if d, err := e.Spend(t.Context(), k); err != nil || !d.Allowed {
			t.Fatalf("spend: %+v %v", d, err)
		}
	}
	l := e.leaseOf(k)
	l.mu.Lock()
	gen, long, spent := l.gen, l.long, l.granted-l.left
	l.mu.Unlock()
	if !long || spent == 0 {
		t.Fatalf("after three calls: long %v, spent %d of the lease", long, spent)
	}
	// The burst is long over when the lease ends, 20 s later.
	clock.Lock()
	now = now.Add(20 * time.Second)
	clock.Unlock()
	e.expire(k.KeyID, l, gen)
	l.mu.Lock()
	renewedGen, held := l.gen, l.granted
	l.mu.Unlock()
	if renewedGen == gen || held == 0 {
		t.Fatalf("a lease spent from was not renewed at its end: gen %d -> %d, %d units held", gen, renewedGen, held)
	}
	// The renewed lease ends with nothing spent from it: its units go back.
	e.expire(k.KeyID, l, renewedGen)
	l.mu.Lock()
	held = l.granted
	l.mu.Unlock()
	if used, reserved, _ := ledger.QuotaUse(t.Context(), 1, ""); held != 0 || reserved != 0 || used != 3 {
		t.Fatalf("an unspent lease at its end: %d units held, ledger used %d reserved %d; want 0, 3, 0", held, used, reserved)
	}
	// The next call takes a lease again.
	before := ledger.renewals
	if d, err := e.Spend(t.Context(), k); err != nil || !d.Allowed || d.Remaining != k.Quota-4 {
		t.Fatalf("spend after the return: %+v %v", d, err)
	}
	if ledger.renewals != before+1 {
		t.Fatalf("%d renewals for the call after the return, want 1", ledger.renewals-before)
	}
}
