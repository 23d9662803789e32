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
// counts as Store.Write and the retention job leave them: hour and day
// buckets, and for the last 48 hours minute buckets, the hour and day
// buckets holding the same counts; plus rows that must not count (before
// the period, another key, another program). The database's sums per hour
// and per day must add up, bucket by bucket and in total, to exactly the
// calls seeded, once each: from a whole day (the usage page), and from a
// time inside an hour (minutes, then hours, then days), and RequestsSince
// too.
func TestSumsEqualTheSeededRowsAcrossResolutions(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		now := time.Date(2026, 3, 31, 12, 34, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		since := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // the 30-day view's first bar
		inside := now.Add(-24*time.Hour - 17*time.Minute)    // 12:17, inside an hour of minutes
		minutesFrom := now.Add(-usage.MinuteRetention).Truncate(time.Hour)
		var rows []seedRow
		// byOutcome[from] and want[from] are the seeded calls of key 1 in
		// program 10 at or after from: by outcome, by hour and day bucket.
		type expected struct{ hour, day map[int64]int64 }
		byOutcome := map[time.Time]map[string]int64{since: {}, inside: {}}
		want := map[time.Time]expected{}
		for _, from := range []time.Time{since, inside} {
			want[from] = expected{hour: map[int64]int64{}, day: map[int64]int64{}}
		}
		// call records n calls of key 1 in program 10 in the bucket at of
		// resolution res (its finest row: its hour and day rows are derived).
		derived := map[seedRow]int64{}
		call := func(res string, at time.Time, outcome string, n int64) {
			rows = append(rows, seedRow{1, 10, res, at, outcome, n})
			if res == usage.Minute {
				derived[seedRow{KeyID: 1, ProgramID: 10, Resolution: usage.Hour, Bucket: at.Truncate(time.Hour), Outcome: outcome}] += n
			}
			derived[seedRow{KeyID: 1, ProgramID: 10, Resolution: usage.Day, Bucket: at.Truncate(24 * time.Hour), Outcome: outcome}] += n
			for from := range want {
				if at.Before(from) {
					continue
				}
				byOutcome[from][outcome] += n
				want[from].hour[at.Truncate(time.Hour).Unix()] += n
				want[from].day[at.Truncate(24*time.Hour).Unix()] += n
			}
		}
		// Hours from the period's start until the minutes begin.
		for at := since; at.Before(minutesFrom); at = at.Add(time.Hour) {
			call(usage.Hour, at, metrics.OutcomeValid, int64(1+at.Hour()%4))
			if at.Hour()%5 == 0 {
				call(usage.Hour, at, metrics.OutcomeRateLimited, 2)
			}
			if at.Day() < 4 {
				call(usage.Hour, at, metrics.OutcomeExpired, 3)
			}
		}
		// Minutes for the last 48 hours.
		for at := minutesFrom; at.Before(now); at = at.Add(time.Minute) {
			m := int64(at.Minute())
			for _, c := range []struct {
				outcome string
				n       int64
				when    bool
			}{{metrics.OutcomeValid, 1 + m%7, true}, {metrics.OutcomeInvalid, 1, m%13 == 0}, {metrics.OutcomeForbidden, 5, m%29 == 0}} {
				if c.when {
					call(usage.Minute, at, c.outcome, c.n)
				}
			}
		}
		for r, n := range derived {
			r.Count = n
			rows = append(rows, r)
		}
		// Not this key's, or before the period: another key, another program
		// (an outcome key 1 has no row of in that hour: the primary key is
		// key, resolution, bucket, outcome), the hour (and day) before the
		// period.
		for _, res := range []string{usage.Minute, usage.Hour, usage.Day} {
			rows = append(rows,
				seedRow{2, 10, res, now.Add(-time.Hour).Truncate(step[res]), metrics.OutcomeValid, 1000},
				seedRow{1, 11, res, now.Truncate(step[res]), metrics.OutcomeInactive, 1000})
		}
		rows = append(rows,
			seedRow{1, 10, usage.Hour, since.Add(-time.Hour), metrics.OutcomeInactive, 1000},
			seedRow{1, 10, usage.Day, since.Add(-24 * time.Hour), metrics.OutcomeInactive, 1000})
		if err := s.DB.CreateInBatches(rows, 500).Error; err != nil {
			t.Fatal(err)
		}

		for _, from := range []time.Time{since, inside} {
			for _, per := range []string{usage.Hour, usage.Day} {
				sums, err := s.Usage.Sums(t.Context(), 10, 1, from, per)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int64{}
				gotBucket := map[int64]int64{}
				for i, c := range sums {
					got[c.Outcome] += c.Count
					gotBucket[c.Bucket.Unix()] += c.Count
					if c.KeyID != 1 || c.ProgramID != 10 || c.Bucket.Location() != time.UTC {
						t.Fatalf("from %s per %s: sum %+v", from, per, c)
					}
					if i > 0 && c.Bucket.Before(sums[i-1].Bucket) {
						t.Fatalf("from %s per %s: not oldest first at %d: %v after %v", from, per, i, c.Bucket, sums[i-1].Bucket)
					}
				}
				if !maps.Equal(got, byOutcome[from]) {
					t.Errorf("from %s per %s: totals %v, seeded %v", from, per, got, byOutcome[from])
				}
				wantBucket := want[from].hour
				if per == usage.Day {
					wantBucket = want[from].day
					if len(sums) > 30*5 {
						t.Errorf("per day: %d rows for 30 days", len(sums))
					}
				}
				if !maps.Equal(gotBucket, wantBucket) {
					t.Errorf("from %s per %s: %d buckets, seeded %d; they differ", from, per, len(gotBucket), len(wantBucket))
				}
			}
		}
		var insideTotal int64
		for _, n := range byOutcome[inside] {
			insideTotal += n
		}
		byKey, err := s.Usage.RequestsSince(t.Context(), 10, inside)
		if err != nil {
			t.Fatal(err)
		}
		if len(byKey) != 2 || byKey[1] != insideTotal || byKey[2] != 1000 {
			t.Errorf("requests since %s: %v, want key 1: %d, key 2: 1000", inside, byKey, insideTotal)
		}
		if _, err := s.Usage.Sums(t.Context(), 10, 1, since, usage.Minute); err == nil {
			t.Error("sums per minute: no error")
		}
	})
}

// step is each resolution's bucket length.
var step = map[string]time.Duration{usage.Minute: time.Minute, usage.Hour: time.Hour, usage.Day: 24 * time.Hour}
