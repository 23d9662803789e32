package usage_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/migrations"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// TestMigrationFoldsExistingMinutesIntoHours builds a database as the
// release before hour sums left it (hour rows only for folded minutes,
// minute rows not yet folded, one of them flushed late into a folded
// hour), migrates it, and checks that every hour row then holds its
// minutes, that the minutes are kept, and that a flush afterwards adds to
// the same hour rows (the migration writes buckets as the driver does).
func TestMigrationFoldsExistingMinutesIntoHours(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.OpenBefore(t, db, "usage hour sums kept at flush")
		at := func(hhmm string) time.Time {
			tm, err := time.Parse("2006-01-02 15:04", "2026-02-03 "+hhmm)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
		old := []seedRow{
			{1, 10, usage.Hour, at("08:00"), metrics.OutcomeValid, 5},
			{1, 10, usage.Hour, at("09:00"), metrics.OutcomeValid, 3},
			{1, 10, usage.Minute, at("09:59"), metrics.OutcomeValid, 2}, // flushed after 09:00 was folded
			{1, 10, usage.Minute, at("10:00"), metrics.OutcomeValid, 4},
			{1, 10, usage.Minute, at("10:59"), metrics.OutcomeValid, 6},
			{1, 10, usage.Minute, at("10:30"), metrics.OutcomeInvalid, 1},
			{1, 10, usage.Minute, at("11:05"), metrics.OutcomeValid, 7},
			{2, 10, usage.Minute, at("10:01"), metrics.OutcomeValid, 9},
			{3, 11, usage.Minute, at("10:01"), metrics.OutcomeExpired, 8},
		}
		if err := gdb.Create(old).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := migrations.Migrate(t.Context(), gdb); err != nil {
			t.Fatal(err)
		}
		s := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		for _, c := range []struct {
			res          string
			program, key int64
			want         string
		}{
			{usage.Hour, 10, 1, "08:00 valid 5, 09:00 valid 5, 10:00 invalid 1, 10:00 valid 10, 11:00 valid 7"},
			{usage.Minute, 10, 1, "09:59 valid 2, 10:00 valid 4, 10:30 invalid 1, 10:59 valid 6, 11:05 valid 7"},
			{usage.Hour, 10, 2, "10:00 valid 9"},
			{usage.Hour, 11, 3, "10:00 expired 8"},
		} {
			if got := buckets(t, s, c.res, c.program, c.key); got != c.want {
				t.Errorf("key %d %s rows after the migration: %s, want %s", c.key, c.res, got, c.want)
			}
		}
		s.SetClock(func() time.Time { return at("11:20") })
		if err := s.Usage.Write(t.Context(), []usage.Count{{KeyID: 1, ProgramID: 10, Bucket: at("11:06"), Outcome: metrics.OutcomeValid, Count: 1}}, nil); err != nil {
			t.Fatal(err)
		}
		if got := buckets(t, s, usage.Hour, 10, 1); !strings.HasSuffix(got, "10:00 valid 10, 11:00 valid 8") {
			t.Errorf("hour rows after a flush: %s", got)
		}
		if got := pageTotals(t, s, 10, 1, at("00:00"), usage.Day); got != "map[invalid:1 valid:28]" {
			t.Errorf("the page shows %s", got)
		}
	})
}

// TestMigrationAddsExistingHoursToTheirDays builds a database as the
// release before day sums left it (day rows only for folded hours, hour
// rows for the last 90 days, one hour flushed late into a folded day),
// migrates it, and checks that every day row then holds its day's calls
// (its folded hours and its hours still present), that the hours are
// kept, that the page per day and per hour shows every call once, and
// that a flush afterwards adds to the same day rows (the migration writes
// buckets as the driver does).
func TestMigrationAddsExistingHoursToTheirDays(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.OpenBefore(t, db, "usage day sums kept at flush")
		at := func(day, hhmm string) time.Time {
			tm, err := time.Parse("2006-01-02 15:04", "2026-02-"+day+" "+hhmm)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
		old := []seedRow{
			{1, 10, usage.Day, at("01", "00:00"), metrics.OutcomeValid, 50}, // folded
			{1, 10, usage.Hour, at("01", "23:00"), metrics.OutcomeValid, 2}, // flushed after day 1 was folded
			{1, 10, usage.Hour, at("02", "08:00"), metrics.OutcomeValid, 5},
			{1, 10, usage.Hour, at("02", "23:00"), metrics.OutcomeValid, 3},
			{1, 10, usage.Hour, at("02", "23:00"), metrics.OutcomeExpired, 1},
			{1, 10, usage.Minute, at("02", "23:59"), metrics.OutcomeValid, 3},
			{1, 10, usage.Hour, at("03", "00:00"), metrics.OutcomeValid, 4},
			{2, 10, usage.Hour, at("02", "10:00"), metrics.OutcomeValid, 9},
			{3, 11, usage.Hour, at("03", "10:00"), metrics.OutcomeExpired, 8},
		}
		if err := gdb.Create(old).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := migrations.Migrate(t.Context(), gdb); err != nil {
			t.Fatal(err)
		}
		s := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		days := func(program, key int64) string {
			var rows []usage.Count
			if err := s.DB.Raw(`SELECT bucket, outcome, count FROM key_usage WHERE resolution = ? AND key_id = ? AND program_id = ? ORDER BY bucket, outcome`,
				usage.Day, key, program).Scan(&rows).Error; err != nil {
				t.Fatal(err)
			}
			out := make([]string, len(rows))
			for i, r := range rows {
				out[i] = fmt.Sprintf("%s %s %d", r.Bucket.UTC().Format("02 15:04"), r.Outcome, r.Count)
			}
			return strings.Join(out, ", ")
		}
		for _, c := range []struct {
			program, key int64
			want         string
		}{
			{10, 1, "01 00:00 valid 52, 02 00:00 expired 1, 02 00:00 valid 8, 03 00:00 valid 4"},
			{10, 2, "02 00:00 valid 9"},
			{11, 3, "03 00:00 expired 8"},
		} {
			if got := days(c.program, c.key); got != c.want {
				t.Errorf("key %d day rows after the migration: %s, want %s", c.key, got, c.want)
			}
		}
		if got := buckets(t, s, usage.Hour, 10, 1); got != "23:00 valid 2, 08:00 valid 5, 23:00 expired 1, 23:00 valid 3, 00:00 valid 4" {
			t.Errorf("hour rows after the migration: %s", got)
		}
		s.SetClock(func() time.Time { return at("03", "00:20") })
		if err := s.Usage.Write(t.Context(), []usage.Count{{KeyID: 1, ProgramID: 10, Bucket: at("03", "00:06"), Outcome: metrics.OutcomeValid, Count: 1}}, nil); err != nil {
			t.Fatal(err)
		}
		if got := days(10, 1); !strings.HasSuffix(got, "02 00:00 valid 8, 03 00:00 valid 5") {
			t.Errorf("day rows after a flush: %s", got)
		}
		for _, c := range []struct {
			since time.Time
			per   string
			want  string
		}{
			{at("02", "00:00"), usage.Day, "map[expired:1 valid:13]"},
			{at("02", "00:00"), usage.Hour, "map[expired:1 valid:13]"},
			{at("01", "00:00"), usage.Day, "map[expired:1 valid:65]"},
		} {
			if got := pageTotals(t, s, 10, 1, c.since, c.per); got != c.want {
				t.Errorf("since %s per %s the page shows %s, want %s", c.since, c.per, got, c.want)
			}
		}
	})
}
