package usage_test

import (
	"testing"
	"time"

	"gorm.io/gorm/clause"

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
// bench's scenario 9 does) and returns the sum of the counts per key.
func seedMinutes(tb testing.TB, s *modeltest.Stores, now time.Time, keys, days int) int64 {
	tb.Helper()
	rows := make([]seedRow, 0, 4000)
	var sum int64
	flush := func() {
		if err := s.DB.Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 1000).Error; err != nil {
			tb.Fatal(err)
		}
		rows = rows[:0]
	}
	for k := int64(1); k <= int64(keys); k++ {
		for m := 1; m <= days*24*60; m++ {
			bucket := now.Add(-time.Duration(m) * time.Minute)
			rows = append(rows, seedRow{k, 10, usage.Minute, bucket, metrics.OutcomeValid, int64(1 + m%37)})
			if k == 1 {
				sum += int64(1 + m%37)
			}
			if m%10 == 0 {
				rows = append(rows, seedRow{k, 10, usage.Minute, bucket, metrics.OutcomeRateLimited, int64(1 + m%3)})
				if k == 1 {
					sum += int64(1 + m%3)
				}
			}
			if len(rows) >= 4000 {
				flush()
			}
		}
	}
	if len(rows) > 0 {
		flush()
	}
	return sum
}

// BenchmarkUsage30Days reads one key's counts the way the usage page does,
// with 30 days × 1440 minutes × 20 keys seeded (the worst case: before any
// rollup): every minute row (Counts, what the page read before) and the
// database's sums per day (30 days) and per hour (7 days).
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
			b.Run("counts-30d", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if counts, err := s.Usage.Counts(b.Context(), 10, int64(1+i%20), days30); err != nil || len(counts) == 0 {
						b.Fatal(err, len(counts))
					}
				}
			})
			for _, c := range []struct {
				name  string
				since time.Time
				per   string
			}{{"sums-30d-per-day", days30, usage.Day}, {"sums-7d-per-hour", days7, usage.Hour}} {
				b.Run(c.name, func(b *testing.B) {
					for i := 0; b.Loop(); i++ {
						if sums, err := s.Usage.Sums(b.Context(), 10, int64(1+i%20), c.since, c.per); err != nil || len(sums) == 0 {
							b.Fatal(err, len(sums))
						}
					}
				})
			}
		})
	}
}
