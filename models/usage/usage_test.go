package usage_test

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// totals sums a key's counts by resolution and outcome.
func totals(t *testing.T, s *modeltest.Stores, programID, keyID int64) map[string]int64 {
	t.Helper()
	var rows []struct {
		Resolution, Outcome string
		Total               int64
	}
	if err := s.DB.Raw(`SELECT resolution, outcome, SUM(count) AS total FROM key_usage WHERE key_id = ? AND program_id = ? GROUP BY resolution, outcome`, keyID, programID).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Resolution+"/"+r.Outcome] = r.Total
	}
	return out
}

// buckets lists a key's rows of one resolution, oldest first, as
// "15:04 outcome count" joined by ", ".
func buckets(t *testing.T, s *modeltest.Stores, resolution string, programID, keyID int64) string {
	t.Helper()
	var rows []usage.Count
	if err := s.DB.Raw(`SELECT bucket, outcome, count FROM key_usage WHERE resolution = ? AND key_id = ? AND program_id = ? ORDER BY bucket, outcome`,
		resolution, keyID, programID).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s %s %d", r.Bucket.UTC().Format("15:04"), r.Outcome, r.Count)
	}
	return strings.Join(out, ", ")
}

// pageTotals is what the usage page shows for a key since a time: its
// Sums per hour, totalled by outcome ("outcome:n" in a map's print order).
func pageTotals(t *testing.T, s *modeltest.Stores, programID, keyID int64, since time.Time, per string) string {
	t.Helper()
	sums, err := s.Usage.Sums(t.Context(), programID, keyID, since, per)
	if err != nil {
		t.Fatal(err)
	}
	byOutcome := map[string]int64{}
	for _, c := range sums {
		byOutcome[c.Outcome] += c.Count
	}
	return fmt.Sprint(byOutcome)
}

func TestRecorderFlushesExactCountsInMinuteBuckets(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		now := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		rec := usage.NewRecorder(s.Usage, s.Clock)
		for range 5 {
			rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.1", "curl/8")
		}
		rec.Count(1, 10, metrics.OutcomeRateLimited, "192.0.2.1", "curl/8")
		rec.Count(2, 10, metrics.OutcomeInactive, "2001:db8::1", "shop/1.0")
		now = now.Add(time.Minute)
		rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.2", "curl/8")
		if n, _ := s.Usage.RequestsSince(t.Context(), 10, now.Add(-time.Hour)); len(n) != 0 {
			t.Fatalf("counts reached the database before a flush: %v", n)
		}
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		// A second flush of new counts adds to the same buckets.
		rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.2", "curl/8")
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Every count is in its minute row, its hour row and its day row.
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[day/rate_limited:1 day/valid:7 hour/rate_limited:1 hour/valid:7 minute/rate_limited:1 minute/valid:7]" {
			t.Errorf("key 1: %s", got)
		}
		if got := fmt.Sprint(totals(t, s, 10, 2)); got != "map[day/inactive:1 hour/inactive:1 minute/inactive:1]" {
			t.Errorf("key 2: %s", got)
		}
		if got := totals(t, s, 99, 1); len(got) != 0 {
			t.Errorf("another program sees key 1's counts: %v", got)
		}
		if got := buckets(t, s, usage.Minute, 10, 1); got != "12:00 rate_limited 1, 12:00 valid 5, 12:01 valid 2" {
			t.Errorf("minute buckets: %s", got)
		}
		if got := buckets(t, s, usage.Hour, 10, 1); got != "12:00 rate_limited 1, 12:00 valid 7" {
			t.Errorf("hour buckets: %s", got)
		}
		req, err := s.Usage.RequestsSince(t.Context(), 10, now.Add(-24*time.Hour))
		if err != nil || req[1] != 8 || req[2] != 1 {
			t.Errorf("requests in 24 hours: %v %v", req, err)
		}
		clients, err := s.Usage.Clients(t.Context(), 10, 1, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != 2 || clients[0].IP != "192.0.2.2" || clients[0].Count != 2 || clients[1].Count != 6 {
			t.Errorf("clients: %+v", clients)
		}
	})
}

// TestRollupDeletesMinutesThenHoursThenDays: minutes older than 48 hours
// and hours older than 90 days are deleted, not folded (their hours and
// days hold them since the flush), so what the page shows, per hour and
// per day, never changes; days go after 400.
func TestRollupDeletesMinutesThenHoursThenDays(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
		now := start
		s.SetClock(func() time.Time { return now })
		rec := usage.NewRecorder(s.Usage, s.Clock)
		// 3 minutes of 10:00–10:02 and one at 11:30, all valid; one invalid.
		for i := range 3 {
			now = start.Add(time.Duration(i) * time.Minute)
			rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.1", "ua")
			rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.1", "ua")
		}
		now = start.Add(90 * time.Minute)
		rec.Count(1, 10, metrics.OutcomeValid, "192.0.2.1", "ua")
		rec.Count(1, 10, metrics.OutcomeInvalid, "192.0.2.1", "ua")
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		since := start.Add(-time.Hour)
		const shown = "map[invalid:1 valid:7]"
		step := func(at time.Duration, wantRows string) {
			t.Helper()
			now = start.Add(at)
			if _, err := s.Usage.Rollup(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(totals(t, s, 10, 1)); got != wantRows {
				t.Fatalf("at +%s: rows %s, want %s", at, got, wantRows)
			}
			for _, per := range []string{usage.Hour, usage.Day} {
				if got := pageTotals(t, s, 10, 1, since.Truncate(24*time.Hour), per); got != shown {
					t.Fatalf("at +%s: the page shows %s per %s, want %s", at, got, per, shown)
				}
			}
		}
		// 47 hours later nothing is old enough.
		step(47*time.Hour, "map[day/invalid:1 day/valid:7 hour/invalid:1 hour/valid:7 minute/invalid:1 minute/valid:7]")
		// 48h10m after 10:00: the 10:xx minutes are whole and old, 11:30 is
		// not; the hours keep every count (nothing is added twice), and a
		// second run changes nothing.
		step(48*time.Hour+70*time.Minute, "map[day/invalid:1 day/valid:7 hour/invalid:1 hour/valid:7 minute/invalid:1 minute/valid:1]")
		step(48*time.Hour+70*time.Minute, "map[day/invalid:1 day/valid:7 hour/invalid:1 hour/valid:7 minute/invalid:1 minute/valid:1]")
		if got := buckets(t, s, usage.Hour, 10, 1); got != "10:00 valid 6, 11:00 invalid 1, 11:00 valid 1" {
			t.Errorf("hour buckets: %s", got)
		}
		step(50*time.Hour, "map[day/invalid:1 day/valid:7 hour/invalid:1 hour/valid:7]")
		// Until 90 days after their day's end the hours are kept; then
		// they go, and the day rows alone hold them (per hour, the day
		// keeps its start).
		step(90*24*time.Hour+13*time.Hour+59*time.Minute, "map[day/invalid:1 day/valid:7 hour/invalid:1 hour/valid:7]")
		step(92*24*time.Hour, "map[day/invalid:1 day/valid:7]")
		step(92*24*time.Hour, "map[day/invalid:1 day/valid:7]")
		if got := buckets(t, s, usage.Day, 10, 1); got != "00:00 invalid 1, 00:00 valid 7" {
			t.Errorf("day buckets: %s", got)
		}
		// Retention: days and clients go in the end.
		now = start.Add(401 * 24 * time.Hour)
		removed, err := s.Usage.Rollup(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := totals(t, s, 10, 1); len(got) != 0 || removed != 2 {
			t.Errorf("after retention: %v (removed %d)", got, removed)
		}
	})
}

func TestRollupKeepsEachKeysLatestClients(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		rec := usage.NewRecorder(s.Usage, s.Clock)
		for i := range usage.ClientsPerKey + 5 {
			now = now.Add(time.Second)
			rec.Count(1, 10, metrics.OutcomeValid, fmt.Sprintf("192.0.2.%d", i), "ua")
		}
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		clients, _ := s.Usage.Clients(t.Context(), 10, 1, 100)
		if len(clients) != usage.ClientsPerKey || clients[0].IP != fmt.Sprintf("192.0.2.%d", usage.ClientsPerKey+4) {
			t.Errorf("clients kept: %d, newest %+v", len(clients), clients[0])
		}
	})
}

// TestRecorderCountsEveryClientOfABusyKey: a key used from more clients
// than are scanned per key (they are then indexed) still has every
// sighting counted exactly, and a failed flush keeps them for the next,
// added to what was counted meanwhile.
func TestRecorderCountsEveryClientOfABusyKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		now := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		rec := usage.NewRecorder(s.Usage, s.Clock)
		const clients = 30
		want := map[string]int64{}
		call := func(i int) {
			now = now.Add(time.Second)
			ip := fmt.Sprintf("192.0.2.%d", i)
			rec.Count(1, 10, metrics.OutcomeValid, ip, "ua")
			rec.Count(2, 10, metrics.OutcomeInactive, ip, "other") // another key, same addresses
			want[ip]++
		}
		for round := range 3 {
			for i := range clients {
				if i%(round+1) == 0 {
					call(i)
				}
			}
		}
		refuseHourRows(t, s, true)
		if err := rec.Flush(t.Context()); err == nil {
			t.Fatal("a flush refused its hour rows: no error")
		}
		refuseHourRows(t, s, false)
		for i := range clients / 2 {
			call(i)
		}
		if err := rec.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		for keyID := range int64(2) {
			got, err := s.Usage.Clients(t.Context(), 10, keyID+1, 100)
			if err != nil {
				t.Fatal(err)
			}
			byIP := map[string]int64{}
			var total int64
			for _, c := range got {
				byIP[c.IP] += c.Count
				total += c.Count
			}
			if !maps.Equal(byIP, want) {
				t.Errorf("key %d clients: got %v, want %v", keyID+1, byIP, want)
			}
			if calls := totals(t, s, 10, keyID+1); calls["minute/valid"]+calls["minute/inactive"] != total {
				t.Errorf("key %d: %v calls counted, %d sightings", keyID+1, calls, total)
			}
		}
	})
}
