package keys_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

func TestQuotaPeriodAt(t *testing.T) {
	for _, c := range []struct {
		kind, at, name, start, next string
	}{
		{keys.QuotaPeriodDay, "2026-12-31T23:59:59Z", "day:2026-12-31", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"},
		{keys.QuotaPeriodDay, "2027-01-01T00:00:00Z", "day:2027-01-01", "2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"},
		{keys.QuotaPeriodDay, "2026-03-08T23:30:00-05:00", "day:2026-03-09", "2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z"},
		{keys.QuotaPeriodMonth, "2026-02-28T23:59:59Z", "month:2026-02", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"},
		{keys.QuotaPeriodMonth, "2026-12-15T10:00:00Z", "month:2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		name, start, next := keys.QuotaPeriodAt(c.kind, at)
		if name != c.name || start.Format(time.RFC3339) != c.start || next.Format(time.RFC3339) != c.next {
			t.Errorf("%s at %s: %s %s %s, want %s %s %s", c.kind, c.at, name, start.Format(time.RFC3339), next.Format(time.RFC3339), c.name, c.start, c.next)
		}
	}
}

func TestParseLimitsForm(t *testing.T) {
	good, err := keys.ParseLimitsForm(" 1000 ", "month", "60")
	if err != nil || good.Quota != 1000 || good.QuotaPeriod != "month" || good.RateLimitPerMinute != 60 {
		t.Fatalf("good input: %+v %v", good, err)
	}
	if none, err := keys.ParseLimitsForm("", "day", ""); err != nil || none.Quota != 0 || none.RateLimitPerMinute != 0 {
		t.Fatalf("empty fields: %+v %v", none, err)
	}
	for _, bad := range [][3]string{{"1e3", "day", ""}, {"0", "day", ""}, {"1000000000001", "day", ""}, {"", "", "0"}, {"", "", "ten"}, {"", "", "-1"}} {
		var verr input.ValidationError
		if _, err := keys.ParseLimitsForm(bad[0], bad[1], bad[2]); !errors.As(err, &verr) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Renewals racing on one key's period never hand out more than the quota
// in all, and settling gives back exactly the unspent units.
func TestRenewQuotaLeaseNeverHandsOutMoreThanLeft(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		const quota = 100
		var mu sync.Mutex
		var granted int64
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 5 {
					g, err := store.Keys.RenewQuotaLease(t.Context(), 7, "day:2026-12-07", quota, 0, 0, 3)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					granted += g.Granted
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if granted != quota {
			t.Fatalf("granted %d, want all %d (demand was %d)", granted, quota, 16*5*3)
		}
		// A holder of 10 units that spent 4 settles: 6 come back.
		g, err := store.Keys.RenewQuotaLease(t.Context(), 7, "day:2026-12-07", quota, 10, 4, 0)
		if err != nil || g.Granted != 0 || g.Used != 4 || g.Reserved != 90 {
			t.Fatalf("settlement: %+v %v", g, err)
		}
		g, err = store.Keys.RenewQuotaLease(t.Context(), 7, "day:2026-12-07", quota, 0, 0, 10)
		if err != nil || g.Granted != 6 || g.Used+g.Reserved != quota {
			t.Fatalf("after the settlement: %+v %v, want the 6 given back", g, err)
		}
		if used, reserved, err := store.Keys.QuotaUse(t.Context(), 7, "day:2026-12-07"); err != nil || used != 4 || reserved != 96 {
			t.Fatalf("QuotaUse %d %d %v", used, reserved, err)
		}
	})
}

// Housekeeping deletes the ledger and alert rows of ended periods and
// keeps those of the current and the previous period (leases of the
// period just ended may still settle), on both databases.
func TestPurgeQuotaLedgerKeepsCurrentAndPreviousPeriods(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		store.SetClock(func() time.Time { return time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC) })
		periods := []string{"day:2026-11-30", "day:2026-12-05", "day:2026-12-06", "day:2026-12-07", "month:2026-10", "month:2026-11", "month:2026-12"}
		for _, p := range periods {
			if _, err := store.Keys.RenewQuotaLease(t.Context(), 7, p, 100, 0, 0, 1); err != nil {
				t.Fatal(err)
			}
			if err := store.DB.Exec(`INSERT INTO api_key_quota_alerts (key_id, period, percent, created_at) VALUES (7, ?, 80, ?)`, p, time.Now()).Error; err != nil {
				t.Fatal(err)
			}
		}
		deleted, err := store.Keys.PurgeQuotaLedger(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if deleted != 6 { // 3 periods × (ledger row + alert row)
			t.Fatalf("deleted %d rows, want 6", deleted)
		}
		for _, table := range []string{"api_key_quota_use", "api_key_quota_alerts"} {
			var left []string
			if err := store.DB.Raw(`SELECT period FROM ` + table + ` ORDER BY period`).Scan(&left).Error; err != nil {
				t.Fatal(err)
			}
			want := []string{"day:2026-12-06", "day:2026-12-07", "month:2026-11", "month:2026-12"}
			if len(left) != len(want) {
				t.Fatalf("%s keeps %v, want %v", table, left, want)
			}
			for i := range want {
				if left[i] != want[i] {
					t.Fatalf("%s keeps %v, want %v", table, left, want)
				}
			}
		}
		if used, reserved, err := store.Keys.QuotaUse(t.Context(), 7, "day:2026-12-07"); err != nil || used+reserved != 1 {
			t.Fatalf("today's row after the purge: %d %d %v", used, reserved, err)
		}
	})
}
