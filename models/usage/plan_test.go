package usage_test

import (
	"context"
	"encoding/json"
	"slices"
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
// usage page's sums and of the API Keys list's 24-hour counts on SQLite:
// each statement must search a range of one resolution in the key
// (program) index, never every row of the key or program (a condition with OR made
// SQLite read all of a program's minutes: 250 ms for 20 keys with 30 days
// of them). Without statistics (keydesk never runs ANALYZE there) its
// plans follow from the indexes alone; PostgreSQL's are checked by
// TestUsageReadsOnPostgresRangeDayRows.
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
	// Days from a whole day (1 statement each), and from inside an hour
	// the days from the next day, the hours up to it and the minutes up to
	// the next hour (3 each).
	if len(rec.sql) != 8 {
		t.Fatalf("%d statements, want 8 (one per span): %q", len(rec.sql), rec.sql)
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

// planNode is a node of EXPLAIN (FORMAT JSON)'s plan.
type planNode struct {
	NodeType        string     `json:"Node Type"`
	RelationName    string     `json:"Relation Name"`
	IndexName       string     `json:"Index Name"`
	IndexCond       string     `json:"Index Cond"`
	ActualRows      float64    `json:"Actual Rows"`
	ActualLoops     float64    `json:"Actual Loops"`
	RowsRemoved     float64    `json:"Rows Removed by Filter"`
	RowsRecheck     float64    `json:"Rows Removed by Index Recheck"`
	SharedHitBlocks float64    `json:"Shared Hit Blocks"`
	Plans           []planNode `json:"Plans"`
}

// walk calls fn on n and every node under it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// TestUsageReadsOnPostgresRangeDayRows: 40 days of three keys' traffic
// flushed as a server flushes it (minute, hour and day rows), no ANALYZE
// (as on a fresh table, or with autovacuum off: the case that read every
// hour row of the period in BENCHMARKS.md). The 30-day view's sum must be
// one statement whose one scan of key_usage is an index range of day rows
// from the period's start (the key's, or without statistics the
// program's: a program has at most 20 keys) that returns exactly the
// key's 60 day rows; the API Keys list's 24-hour count must read index
// ranges of its spans only (today's days, yesterday's hours, minutes).
func TestUsageReadsOnPostgresRangeDayRows(t *testing.T) {
	s := modeltest.NewStores(t, modeltest.Postgres(t))
	now := time.Date(2026, 3, 31, 12, 34, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	first := now.Add(-40 * 24 * time.Hour).Truncate(24 * time.Hour)
	for day := first; day.Before(now); day = day.Add(24 * time.Hour) {
		var counts []usage.Count
		for m := day; m.Before(day.Add(24*time.Hour)) && m.Before(now); m = m.Add(7 * time.Minute) {
			for key := int64(1); key <= 3; key++ {
				counts = append(counts, usage.Count{KeyID: key, ProgramID: 10, Bucket: m, Outcome: usage.OutcomeSuccess, Count: 2})
				if m.Minute()%3 == 0 {
					counts = append(counts, usage.Count{KeyID: key, ProgramID: 10, Bucket: m, Outcome: usage.OutcomeRateLimited, Count: 1})
				}
			}
		}
		if err := s.Usage.Write(t.Context(), counts, nil); err != nil {
			t.Fatal(err)
		}
	}
	rec := &statements{Interface: logger.Discard}
	store := usage.NewStore(s.DB.Session(&gorm.Session{Logger: rec}), s.Clock)
	since := now.Add(-29 * 24 * time.Hour).Truncate(24 * time.Hour) // the 30-day view's first bar
	if _, err := store.Sums(t.Context(), 10, 2, since, usage.Day); err != nil {
		t.Fatal(err)
	}
	if len(rec.sql) != 1 {
		t.Fatalf("the 30-day sum ran %d statements, want 1: %q", len(rec.sql), rec.sql)
	}
	scans := explainScans(t, s, rec.sql[0])
	if len(scans) != 1 {
		t.Fatalf("%d scans of key_usage, want 1: %+v", len(scans), scans)
	}
	scan := scans[0]
	read := scan.ActualRows + scan.RowsRemoved + scan.RowsRecheck
	if scan.IndexName == "" || !strings.Contains(scan.IndexCond, "resolution = 'day'") || !strings.Contains(scan.IndexCond, "bucket >= '2026-03-02") ||
		scan.ActualRows != 30*2 || read > 3*30*2 {
		t.Errorf("the 30-day sum's scan is not a range of the period's day rows: %+v", scan)
	}

	// The list: days from today, hours up to today, minutes up to the hour.
	rec.sql = nil
	if _, err := store.RequestsSince(t.Context(), 10, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if len(rec.sql) != 3 {
		t.Fatalf("the 24-hour count ran %d statements, want 3: %q", len(rec.sql), rec.sql)
	}
	for _, sql := range rec.sql {
		scans := explainScans(t, s, sql)
		if len(scans) != 1 {
			t.Fatalf("%d scans of key_usage, want 1: %+v", len(scans), scans)
		}
		if scan := scans[0]; scan.IndexName == "" || !strings.Contains(scan.IndexCond, "resolution = ") || scan.RowsRemoved+scan.RowsRecheck != 0 {
			t.Errorf("the scan of %s is not a range of one span's rows: %+v", sql, scan)
		}
	}
}

// explainScans runs EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) of sql and
// returns its scans of key_usage (a bitmap heap scan stands for its index
// scan, whose name and condition it is given).
func explainScans(t *testing.T, s *modeltest.Stores, sql string) []planNode {
	t.Helper()
	var out []byte
	if err := s.DB.Raw(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ` + sql).Row().Scan(&out); err != nil {
		t.Fatal(err)
	}
	var plans []struct{ Plan planNode }
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN of %s: %v %s", sql, err, out)
	}
	var scans []planNode
	plans[0].Plan.walk(func(n planNode) {
		if n.RelationName != "key_usage" {
			return
		}
		if n.NodeType == "Bitmap Heap Scan" {
			for _, c := range n.Plans {
				if c.NodeType == "Bitmap Index Scan" {
					n.IndexName, n.IndexCond = c.IndexName, c.IndexCond
				}
			}
		}
		scans = append(scans, n)
	})
	return scans
}

// TestPostgresUsageUpdatesCanStayOnTheirPage: every flush updates the
// count of an hour and a day row per key and outcome. PostgreSQL can do
// that in place on the row's page (a HOT update, no new index entries)
// only when no index holds count and the page has room: no index of
// key_usage may name count, and the table keeps 30 % of each page free.
func TestPostgresUsageUpdatesCanStayOnTheirPage(t *testing.T) {
	s := modeltest.NewStores(t, modeltest.Postgres(t))
	var indexed []string
	if err := s.DB.Raw(`SELECT i.relname FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY (x.indkey)
WHERE x.indrelid = 'key_usage'::regclass AND a.attname = 'count'`).Scan(&indexed).Error; err != nil {
		t.Fatal(err)
	}
	if len(indexed) != 0 {
		t.Errorf("indexes holding key_usage.count (each update then adds index entries): %v", indexed)
	}
	var options []string
	if err := s.DB.Raw(`SELECT unnest(reloptions) FROM pg_class WHERE oid = 'key_usage'::regclass`).Scan(&options).Error; err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(options, "fillfactor=70") {
		t.Errorf("key_usage options %v: no fillfactor=70", options)
	}
}
