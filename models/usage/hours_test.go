package usage_test

import (
	"maps"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"keydesk/models/database"
	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// rowKey names one key_usage row.
type rowKey struct {
	keyID   int64
	bucket  int64 // unix seconds
	outcome string
}

// rowsOf reads every row of a resolution, by key, bucket and outcome.
func rowsOf(t *testing.T, s *modeltest.Stores, resolution string) map[rowKey]int64 {
	t.Helper()
	var rows []usage.Count
	if err := s.DB.Raw(`SELECT key_id, bucket, outcome, count FROM key_usage WHERE resolution = ?`, resolution).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[rowKey]int64{}
	for _, r := range rows {
		out[rowKey{r.KeyID, r.Bucket.Unix(), r.Outcome}] += r.Count
	}
	return out
}

// perHour sums rows by key, hour and outcome.
func perHour(rows map[rowKey]int64) map[rowKey]int64 { return per(rows, time.Hour) }

// perDay sums rows by key, UTC day and outcome.
func perDay(rows map[rowKey]int64) map[rowKey]int64 { return per(rows, 24*time.Hour) }

func per(rows map[rowKey]int64, step time.Duration) map[rowKey]int64 {
	out := map[rowKey]int64{}
	for k, n := range rows {
		k.bucket = time.Unix(k.bucket, 0).UTC().Truncate(step).Unix()
		out[k] += n
	}
	return out
}

// refuseHourRows makes every write of an hour row fail (on) or lifts that
// (off): a flush failing after its minute rows were written.
func refuseHourRows(t *testing.T, s *modeltest.Stores, on bool) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER refuse_hours BEFORE INSERT ON key_usage WHEN NEW.resolution = 'hour' BEGIN SELECT RAISE(ABORT, 'hour rows refused'); END`}
	if !on {
		stmts = []string{`DROP TRIGGER refuse_hours`}
	}
	if database.IsPostgres(s.DB) {
		stmts = []string{
			`CREATE FUNCTION refuse_hours() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'hour rows refused'; END $$`,
			`CREATE TRIGGER refuse_hours BEFORE INSERT ON key_usage FOR EACH ROW WHEN (NEW.resolution = 'hour') EXECUTE FUNCTION refuse_hours()`,
		}
		if !on {
			stmts = []string{`DROP TRIGGER refuse_hours ON key_usage`, `DROP FUNCTION refuse_hours()`}
		}
	}
	for _, stmt := range stmts {
		if err := s.DB.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
}

// TestHourAndDayRowsHoldEveryFlushedMinute: two instances count random
// calls of four keys over five hours across midnight and flush every few
// minutes, sometimes both at once; one flush fails after writing its
// minutes and is retried by the next. Every call is then in its minute
// row, its hour row and its day row exactly once (each day row is the sum
// of its hours and of its minutes), the page's sums per hour and per day
// and the 24-hour counts equal the calls made, and the retention job's
// deleting the minutes, then the hours, changes none of that.
func TestHourAndDayRowsHoldEveryFlushedMinute(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		start := time.Date(2026, 5, 4, 21, 50, 0, 0, time.UTC)
		programOf := func(key int64) int64 { return 10 + key%2 }
		type instance struct {
			rec *usage.Recorder
			now time.Time
		}
		var instances [2]*instance
		for i := range instances {
			in := &instance{now: start}
			in.rec = usage.NewRecorder(s.Usage, func() time.Time { return in.now })
			instances[i] = in
		}
		want := map[rowKey]int64{} // calls by key, minute and outcome
		rng := rand.New(rand.NewPCG(13, 2026))
		const minutes = 5 * 60
		failedAt := minutes / 2
		for m := range minutes {
			for _, in := range instances {
				in.now = start.Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(60))*time.Second)
				for range 1 + rng.IntN(12) {
					key := int64(1 + rng.IntN(4))
					outcome := metrics.Outcomes[rng.IntN(len(metrics.Outcomes))]
					in.rec.Count(key, programOf(key), outcome, "192.0.2.1", "ua")
					want[rowKey{key, in.now.Truncate(time.Minute).Unix(), outcome}]++
				}
			}
			switch {
			case m == failedAt:
				minutesBefore := rowsOf(t, s, usage.Minute)
				refuseHourRows(t, s, true)
				if err := instances[0].rec.Flush(t.Context()); err == nil {
					t.Fatal("a flush refused its hour rows: no error")
				}
				refuseHourRows(t, s, false)
				if got := rowsOf(t, s, usage.Minute); !maps.Equal(got, minutesBefore) {
					t.Fatal("a failed flush left minute rows behind")
				}
			case m%5 == 0:
				// Both instances at once: each writes in key order.
				var wg sync.WaitGroup
				errs := make([]error, len(instances))
				for i, in := range instances {
					wg.Go(func() { errs[i] = in.rec.Flush(t.Context()) })
				}
				wg.Wait()
				for _, err := range errs {
					if err != nil {
						t.Fatal(err)
					}
				}
			case rng.IntN(3) == 0:
				if err := instances[rng.IntN(len(instances))].rec.Flush(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, in := range instances {
			if err := in.rec.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		end := start.Add(minutes * time.Minute)

		check := func(when string, hoursKept bool) {
			t.Helper()
			if got := rowsOf(t, s, usage.Day); !maps.Equal(got, perDay(want)) {
				t.Errorf("%s: day rows differ from the calls per day (%d rows, %d days of calls)", when, len(got), len(perDay(want)))
			}
			if hoursKept {
				if got := rowsOf(t, s, usage.Hour); !maps.Equal(got, perHour(want)) {
					t.Errorf("%s: hour rows differ from the calls per hour (%d rows, %d hours of calls)", when, len(got), len(perHour(want)))
				}
				if got := perDay(rowsOf(t, s, usage.Hour)); !maps.Equal(got, rowsOf(t, s, usage.Day)) {
					t.Errorf("%s: day rows differ from the sums of their hours", when)
				}
			} else if got := rowsOf(t, s, usage.Hour); len(got) != 0 {
				t.Errorf("%s: %d hour rows", when, len(got))
			}
			for key := int64(1); key <= 4; key++ {
				for _, per := range []string{usage.Hour, usage.Day} {
					sums, err := s.Usage.Sums(t.Context(), programOf(key), key, start.Truncate(24*time.Hour), per)
					if err != nil {
						t.Fatal(err)
					}
					got, wantKey := map[rowKey]int64{}, map[rowKey]int64{}
					for _, c := range sums {
						got[rowKey{key, c.Bucket.Unix(), c.Outcome}] += c.Count
					}
					wantPer := perHour(want)
					if per == usage.Day || !hoursKept {
						wantPer = perDay(want) // without hours a day keeps its start
					}
					for k, n := range wantPer {
						if k.keyID == key {
							wantKey[k] = n
						}
					}
					if !maps.Equal(got, wantKey) {
						t.Errorf("%s: key %d's page sums per %s differ from its calls", when, key, per)
					}
				}
			}
		}
		s.SetClock(func() time.Time { return end })
		if got := rowsOf(t, s, usage.Minute); !maps.Equal(got, want) {
			t.Errorf("minute rows differ from the calls (%d rows, %d minutes of calls)", len(got), len(want))
		}
		if got := perDay(rowsOf(t, s, usage.Minute)); !maps.Equal(got, rowsOf(t, s, usage.Day)) {
			t.Error("day rows differ from the sums of their minutes")
		}
		check("after the flushes", true)
		// The API Keys list's count since a time inside an hour.
		since := end.Add(-100 * time.Minute).Add(30 * time.Second)
		wantSince := map[int64]int64{}
		for k, n := range want {
			if k.bucket >= since.Unix() && programOf(k.keyID) == 10 {
				wantSince[k.keyID] += n
			}
		}
		if got, err := s.Usage.RequestsSince(t.Context(), 10, since); err != nil || !maps.Equal(got, wantSince) {
			t.Errorf("requests since %s: %v %v, want %v", since, got, err, wantSince)
		}

		s.SetClock(func() time.Time { return end.Add(usage.MinuteRetention + time.Hour) })
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := rowsOf(t, s, usage.Minute); len(got) != 0 {
			t.Errorf("after the retention job: %d minute rows", len(got))
		}
		check("after the retention job", true)
		s.SetClock(func() time.Time { return end.Add(usage.HourRetention + 24*time.Hour) })
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		check("after the retention job deleted the hours", false)
	})
}
