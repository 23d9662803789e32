package usage_test

import (
	"maps"
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// TestSumsEqualTheSeededRowsAcrossResolutions seeds 30 days of a key's
// counts in day, hour and minute buckets (as the rollup leaves them), plus
// rows that must not count (before the period, another key, another
// program), and checks that the database's sums per hour and per day add
// up, bucket by bucket and in total, to exactly the seeded counts.
func TestSumsEqualTheSeededRowsAcrossResolutions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		now := time.Date(2026, 3, 31, 12, 34, 0, 0, time.UTC)
		since := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // the 30-day view's first bar
		var rows []seedRow
		want := map[string]int64{}    // outcome → total in the period
		wantHour := map[int64]int64{} // hour (unix) → total in the period
		wantDay := map[int64]int64{}
		add := func(key, program int64, res string, at time.Time, outcome string, n int64) {
			rows = append(rows, seedRow{key, program, res, at, outcome, n})
			if key != 1 || program != 10 || at.Before(since) {
				return
			}
			want[outcome] += n
			h := at.Truncate(time.Hour)
			if res == usage.Day {
				h = at // a day bucket keeps its start when summed per hour
			}
			wantHour[h.Unix()] += n
			wantDay[at.Truncate(24*time.Hour).Unix()] += n
		}
		// Days: one before the period (excluded) and the period's first two.
		for d := -1; d < 2; d++ {
			at := since.AddDate(0, 0, d)
			add(1, 10, usage.Day, at, metrics.OutcomeValid, int64(100+d))
			add(1, 10, usage.Day, at, metrics.OutcomeExpired, 3)
		}
		// Hours from day 3 until 48 hours ago.
		for at := since.AddDate(0, 0, 2); at.Before(now.Add(-usage.MinuteRetention).Truncate(time.Hour)); at = at.Add(time.Hour) {
			add(1, 10, usage.Hour, at, metrics.OutcomeValid, int64(1+at.Hour()%4))
			if at.Hour()%5 == 0 {
				add(1, 10, usage.Hour, at, metrics.OutcomeRateLimited, 2)
			}
		}
		// Minutes for the last 48 hours.
		for at := now.Add(-usage.MinuteRetention).Truncate(time.Hour); at.Before(now); at = at.Add(time.Minute) {
			m := int64(at.Minute())
			add(1, 10, usage.Minute, at, metrics.OutcomeValid, 1+m%7)
			if m%13 == 0 {
				add(1, 10, usage.Minute, at, metrics.OutcomeInvalid, 1)
			}
			if m%29 == 0 {
				add(1, 10, usage.Minute, at, metrics.OutcomeForbidden, 5)
			}
		}
		// Not this key's: another key, another program, before the period.
		add(2, 10, usage.Minute, now.Add(-time.Hour), metrics.OutcomeValid, 1000)
		add(1, 11, usage.Minute, now, metrics.OutcomeValid, 1000) // (key, resolution, bucket, outcome) is the key
		add(1, 10, usage.Hour, since.Add(-time.Hour), metrics.OutcomeValid, 1000)
		add(1, 10, usage.Minute, since.Add(-time.Minute), metrics.OutcomeInactive, 1000)
		if err := s.DB.CreateInBatches(rows, 500).Error; err != nil {
			t.Fatal(err)
		}

		for _, per := range []string{usage.Hour, usage.Day} {
			sums, err := s.Usage.Sums(t.Context(), 10, 1, since, per)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			gotBucket := map[int64]int64{}
			for i, c := range sums {
				got[c.Outcome] += c.Count
				gotBucket[c.Bucket.Unix()] += c.Count
				if c.KeyID != 1 || c.ProgramID != 10 || c.Bucket.Location() != time.UTC {
					t.Fatalf("per %s: sum %+v", per, c)
				}
				if i > 0 && c.Bucket.Before(sums[i-1].Bucket) {
					t.Fatalf("per %s: not oldest first at %d: %v after %v", per, i, c.Bucket, sums[i-1].Bucket)
				}
			}
			if !maps.Equal(got, want) {
				t.Errorf("per %s: totals %v, seeded %v", per, got, want)
			}
			wantBucket := wantHour
			if per == usage.Day {
				wantBucket = wantDay
				if len(sums) > 30*6 {
					t.Errorf("per day: %d rows for 30 days", len(sums))
				}
			}
			if !maps.Equal(gotBucket, wantBucket) {
				t.Errorf("per %s: %d buckets, seeded %d; they differ", per, len(gotBucket), len(wantBucket))
			}
		}
		if _, err := s.Usage.Sums(t.Context(), 10, 1, since, usage.Minute); err == nil {
			t.Error("sums per minute: no error")
		}
	})
}
