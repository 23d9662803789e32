package usage_test

import (
	"fmt"
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
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[minute/rate_limited:1 minute/valid:7]" {
			t.Errorf("key 1: %s", got)
		}
		if got := fmt.Sprint(totals(t, s, 10, 2)); got != "map[minute/inactive:1]" {
			t.Errorf("key 2: %s", got)
		}
		if got := totals(t, s, 99, 1); len(got) != 0 {
			t.Errorf("another program sees key 1's counts: %v", got)
		}
		counts, err := s.Usage.Counts(t.Context(), 10, 1, now.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 3 || !counts[0].Bucket.Equal(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("minute buckets: %+v", counts)
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

func TestRollupFoldsMinutesIntoHoursAndHoursIntoDays(t *testing.T) {
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

		// 47 hours later nothing is old enough.
		now = start.Add(47 * time.Hour)
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[minute/invalid:1 minute/valid:7]" {
			t.Fatalf("before 48 hours: %s", got)
		}
		// 48h10m after 10:00: the 10:xx hour is whole and old, 11:30 is not.
		now = start.Add(48*time.Hour + 70*time.Minute)
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[hour/valid:6 minute/invalid:1 minute/valid:1]" {
			t.Fatalf("after 48 hours: %s", got)
		}
		now = start.Add(50 * time.Hour)
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[hour/invalid:1 hour/valid:7]" {
			t.Fatalf("all in hours: %s", got)
		}
		// After 90 days (and a day's end) the hours become one day.
		now = start.Add(92 * 24 * time.Hour)
		if _, err := s.Usage.Rollup(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(totals(t, s, 10, 1)); got != "map[day/invalid:1 day/valid:7]" {
			t.Fatalf("after 90 days: %s", got)
		}
		counts, _ := s.Usage.Counts(t.Context(), 10, 1, start.Add(-24*time.Hour))
		if len(counts) != 2 || !counts[0].Bucket.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("day buckets: %+v", counts)
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
