package usage_test

import (
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

type seedRow struct {
	KeyID      int64
	ProgramID  int64
	Resolution string
	Bucket     time.Time
	Outcome    string
	Count      int64
}

func (seedRow) TableName() string { return "key_usage" }

// seedMinutes writes days of minute buckets for keys 1..keys of program 10
// ending at now (one valid row per minute, rate_limited every 10th, as the
// bench's scenario 9 does) and their hour and day buckets, as Store.Write
// leaves them, and returns the sum of the counts per key.
func seedMinutes(tb testing.TB, s *modeltest.Stores, now time.Time, keys, days int) int64 {
	tb.Helper()
	rows := make([]seedRow, 0, 4000)
	var sum int64
	flush := func() {
		if err := s.DB.CreateInBatches(rows, 1000).Error; err != nil {
			tb.Fatal(err)
		}
		rows = rows[:0]
	}
	for k := int64(1); k <= int64(keys); k++ {
		sums := map[string]map[time.Time]map[string]int64{usage.Hour: {}, usage.Day: {}}
		add := func(bucket time.Time, outcome string, n int64) {
			rows = append(rows, seedRow{k, 10, usage.Minute, bucket, outcome, n})
			for res, step := range map[string]time.Duration{usage.Hour: time.Hour, usage.Day: 24 * time.Hour} {
				at := bucket.Truncate(step)
				if sums[res][at] == nil {
					sums[res][at] = map[string]int64{}
				}
				sums[res][at][outcome] += n
			}
			if k == 1 {
				sum += n
			}
		}
		for m := 1; m <= days*24*60; m++ {
			bucket := now.Add(-time.Duration(m) * time.Minute)
			add(bucket, metrics.OutcomeValid, int64(1+m%37))
			if m%10 == 0 {
				add(bucket, metrics.OutcomeRateLimited, int64(1+m%3))
			}
			if len(rows) >= 4000 {
				flush()
			}
		}
		for res, byBucket := range sums {
			for at, byOutcome := range byBucket {
				for outcome, n := range byOutcome {
					rows = append(rows, seedRow{k, 10, res, at, outcome, n})
				}
			}
		}
		flush()
	}
	return sum
}

// BenchmarkUsage30Days reads one key's counts the way the usage page and
// the API Keys list do, with 30 days × 1440 minutes × 20 keys seeded (the
// worst case: before the retention job deletes any minute): the sums per
// day (30 days), per hour (7 days and 24 hours) and the program's
// requests in the last 24 hours.
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench Usage30Days -benchtime 50x ./models/usage/
func BenchmarkUsage30Days(b *testing.B) {
	for _, open := range []func(testing.TB) modeltest.Database{modeltest.SQLite, modeltest.Postgres} {
		d := open(b)
		b.Run(d.Name, func(b *testing.B) {
			s := modeltest.NewStores(b, d)
			now := time.Now().UTC().Truncate(time.Minute)
			seedMinutes(b, s, now, 20, 30)
			s.DB.Exec(`ANALYZE`)
			if d.Name == "postgres" {
				s.DB.Exec(`VACUUM key_usage`)
			}
			days30 := now.Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour)
			days7 := now.Add(-7 * 24 * time.Hour).Truncate(6 * time.Hour)
			hours24 := now.Add(-24 * time.Hour).Truncate(time.Hour)
			for _, c := range []struct {
				name  string
				since time.Time
				per   string
			}{{"sums-30d-per-day", days30, usage.Day}, {"sums-7d-per-hour", days7, usage.Hour}, {"sums-24h-per-hour", hours24, usage.Hour}} {
				b.Run(c.name, func(b *testing.B) {
					for i := 0; b.Loop(); i++ {
						if sums, err := s.Usage.Sums(b.Context(), 10, int64(1+i%20), c.since, c.per); err != nil || len(sums) == 0 {
							b.Fatal(err, len(sums))
						}
					}
				})
			}
			b.Run("requests-24h", func(b *testing.B) {
				since := now.Add(-24*time.Hour + 17*time.Minute) // not a whole hour: minutes, then hours
				for b.Loop() {
					if byKey, err := s.Usage.RequestsSince(b.Context(), 10, since); err != nil || len(byKey) != 20 {
						b.Fatal(err, len(byKey))
					}
				}
			})
		})
	}
}

// BenchmarkWrite is one flush of a minute's counts of 20 keys (valid and
// rate_limited), as a server writes once a minute: a minute, an hour and
// a day row each.
//
//	TEST_DATABASE_URL=… go test -run '^$' -bench Write ./models/usage/
func BenchmarkWrite(b *testing.B) {
	for _, open := range []func(testing.TB) modeltest.Database{modeltest.SQLite, modeltest.Postgres} {
		d := open(b)
		b.Run(d.Name, func(b *testing.B) {
			s := modeltest.NewStores(b, d)
			start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			batch := make([]usage.Count, 0, 40)
			for i := 0; b.Loop(); i++ {
				bucket := start.Add(time.Duration(i) * time.Minute)
				batch = batch[:0]
				for k := int64(1); k <= 20; k++ {
					batch = append(batch,
						usage.Count{KeyID: k, ProgramID: 10, Bucket: bucket, Outcome: metrics.OutcomeValid, Count: 7},
						usage.Count{KeyID: k, ProgramID: 10, Bucket: bucket, Outcome: metrics.OutcomeRateLimited, Count: 1})
				}
				if err := s.Usage.Write(b.Context(), batch, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
