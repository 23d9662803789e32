package usage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"keydesk/models/database"
)

// Sums are a key's counts at or after since, summed in the database per
// outcome and per UTC hour (per = Hour) or UTC day (per = Day), oldest
// first: the usage page reads one row per bar and outcome. Per day the
// rows read are the day buckets (plus, when since is not a whole day, the
// hours and minutes up to the next one: see daySpans), one per key,
// outcome and day; per hour the hour buckets (see hourSpans), however
// busy the key. Bucket is the start of the hour or day; ProgramID and
// KeyID are the arguments. A bucket coarser than per (a day older than
// HourRetention when per is Hour) keeps its own start.
func (s *Store) Sums(ctx context.Context, programID, keyID int64, since time.Time, per string) ([]Count, error) {
	if per != Hour && per != Day {
		return nil, fmt.Errorf("usage: unknown sum resolution %q", per)
	}
	db := s.db.WithContext(ctx)
	// Buckets are written in UTC. On SQLite a time is stored as text that
	// starts "2006-01-02 15:04:05", so its first 13 (10) characters are its
	// hour (day); on PostgreSQL date_trunc at UTC, formatted the same way.
	at, layout := `substr(bucket, 1, 13)`, "2006-01-02 15"
	if per == Day {
		at, layout = `substr(bucket, 1, 10)`, "2006-01-02"
	}
	if database.IsPostgres(db) {
		at = `to_char(date_trunc('hour', bucket AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24')`
		if per == Day {
			at = `to_char(date_trunc('day', bucket AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`
		}
	}
	// key_usage_key_resolution_bucket (key_id, program_id, resolution,
	// bucket, on SQLite with outcome and count) finds each span's rows.
	type sumKey struct {
		at      string
		outcome string
	}
	totals := map[sumKey]int64{}
	spans := daySpans(since)
	if per == Hour {
		spans = hourSpans(since, s.now())
	}
	for _, sp := range spans {
		var rows []struct {
			At      string
			Outcome string
			Count   int64
		}
		if err := db.Raw(`SELECT `+at+` AS at, outcome, SUM(count) AS count FROM key_usage
WHERE key_id = ? AND program_id = ? AND `+sp.where+` GROUP BY `+at+`, outcome`,
			append([]any{keyID, programID}, sp.args...)...).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("usage: unable to sum counts: %w", err)
		}
		for _, r := range rows {
			totals[sumKey{r.At, r.Outcome}] += r.Count
		}
	}
	out := make([]Count, 0, len(totals))
	for k, n := range totals {
		t, err := time.ParseInLocation(layout, k.at, time.UTC)
		if err != nil {
			return nil, fmt.Errorf("usage: unexpected bucket %q: %w", k.at, err)
		}
		out = append(out, Count{KeyID: keyID, ProgramID: programID, Bucket: t, Outcome: k.outcome, Count: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := a.Bucket.Compare(b.Bucket); c != 0 {
			return c
		}
		return cmp.Compare(a.Outcome, b.Outcome)
	})
	return out, nil
}
