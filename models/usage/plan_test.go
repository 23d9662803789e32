package usage_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// statements records the SQL a store runs, values inlined.
type statements struct {
	logger.Interface
	mu  sync.Mutex
	sql []string
}

func (s *statements) LogMode(logger.LogLevel) logger.Interface { return s }

func (s *statements) Trace(_ context.Context, _ time.Time, fc func() (string, int64), _ error) {
	sql, _ := fc()
	s.mu.Lock()
	s.sql = append(s.sql, sql)
	s.mu.Unlock()
}

// TestUsageReadsAreIndexRangesOfHourRows checks the query plans of the
// usage page's sums and of the API Keys list's 24-hour counts: each
// statement must search a range of one resolution in the key (program)
// index, never every row of the key or program (a condition with OR made
// SQLite read all of a program's minutes: 250 ms for 20 keys with 30 days
// of them). SQLite only: without statistics (keydesk never runs ANALYZE
// there) its plans follow from the indexes alone; PostgreSQL's follow
// from statistics and are looked at in BENCHMARKS.md.
func TestUsageReadsAreIndexRangesOfHourRows(t *testing.T) {
	s := modeltest.NewStores(t, modeltest.SQLite(t))
	rec := &statements{Interface: logger.Discard}
	store := usage.NewStore(s.DB.Session(&gorm.Session{Logger: rec}), s.Clock)
	now := time.Date(2026, 3, 31, 12, 34, 0, 0, time.UTC)
	for _, since := range []time.Time{now.Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour), now.Add(-24*time.Hour + 17*time.Minute)} {
		if _, err := store.Sums(t.Context(), 10, 1, since, usage.Day); err != nil {
			t.Fatal(err)
		}
		if _, err := store.RequestsSince(t.Context(), 10, since); err != nil {
			t.Fatal(err)
		}
	}
	// Hours and days from a whole hour (2 statements each), and from
	// inside an hour the minutes up to the next (3 each).
	if len(rec.sql) != 10 {
		t.Fatalf("%d statements, want 10 (one per span): %q", len(rec.sql), rec.sql)
	}
	for _, sql := range rec.sql {
		var plan []struct{ Detail string }
		if err := s.DB.Raw(`EXPLAIN QUERY PLAN ` + sql).Scan(&plan).Error; err != nil {
			t.Fatal(err)
		}
		search := ""
		for _, p := range plan {
			if strings.Contains(p.Detail, "key_usage") {
				search += p.Detail
			}
		}
		index := "key_usage_key_resolution_bucket (key_id=? AND program_id=? AND resolution=? AND bucket>"
		if strings.HasPrefix(sql, "SELECT key_id,") {
			index = "key_usage_program_resolution_bucket (program_id=? AND resolution=? AND bucket>"
		}
		if !strings.HasPrefix(search, "SEARCH key_usage USING ") || !strings.Contains(search, index) {
			t.Errorf("plan %q\nof %s\nis not a range of %s…", search, sql, index)
		}
	}
}
