// Package usage counts every API verification by key and outcome: in
// memory on the request path (Recorder), flushed in batches to minute
// buckets and, in the same transaction, to hour and day buckets
// (Store.Write); minutes are deleted after 48 hours, hours after 90 days
// and days after 400, and the usage view reads days (and the hours and
// minutes of a period's partial first day or hour), never every minute. No
// request writes the database.
package usage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// Resolutions of the key_usage buckets.
const (
	Minute = "minute"
	Hour   = "hour"
	Day    = "day"
)

// Retention: minutes are deleted after MinuteRetention, hours after
// HourRetention (their hours and days hold them from the flush on), days
// after DayRetention; the addresses a key was used from are
// kept for ClientRetention, at most ClientsPerKey.
const (
	MinuteRetention = 48 * time.Hour
	HourRetention   = 90 * 24 * time.Hour
	DayRetention    = 400 * 24 * time.Hour
	ClientRetention = 30 * 24 * time.Hour
	ClientsPerKey   = 20
)

// Store reads and writes key_usage and key_usage_clients.
type Store struct {
	db  *gorm.DB
	now database.Clock
}

// NewStore builds the store.
func NewStore(db *gorm.DB, now database.Clock) *Store { return &Store{db: db, now: now} }

// Count is one bucket's count of one outcome for one key.
type Count struct {
	KeyID     int64
	ProgramID int64
	Bucket    time.Time // start of the minute (hour, day), UTC
	Outcome   string
	Count     int64
}

// Client is an address and user agent a key was used from.
type Client struct {
	KeyID     int64
	ProgramID int64
	IP        string
	UserAgent string
	LastSeen  time.Time
	Count     int64
}

// Write adds minute counts to their minute buckets, their hour buckets
// and their (UTC) day buckets, and client sightings, in one transaction:
// an hour or day row always holds every call of its hour or day written
// so far, so the 30-day view reads about 30 day rows per outcome instead
// of 720 hour rows (on PostgreSQL each hour row, updated by 60 flushes,
// ends up on its own page). Rows are written in resolution and then key
// order, so two instances flushing at once cannot deadlock.
func (s *Store) Write(ctx context.Context, counts []Count, clients []Client) error {
	minutes := sumPer(counts, time.Minute)
	hours := sumPer(counts, time.Hour)
	days := sumPer(counts, 24*time.Hour)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := upsertCounts(tx, Minute, minutes); err != nil {
			return err
		}
		if err := upsertCounts(tx, Hour, hours); err != nil {
			return err
		}
		if err := upsertCounts(tx, Day, days); err != nil {
			return err
		}
		if err := upsertClients(tx, clients); err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("usage: unable to write counts: %w", err)
	}
	return nil
}

// sumPer sums counts per key, UTC bucket truncated to step, and outcome,
// in (key, bucket, outcome) order: one count per row it adds to.
func sumPer(counts []Count, step time.Duration) []Count {
	type bucketKey struct {
		keyID   int64
		bucket  int64
		outcome string
	}
	index := make(map[bucketKey]int, len(counts))
	out := make([]Count, 0, len(counts))
	for _, c := range counts {
		bucket := c.Bucket.UTC().Truncate(step)
		k := bucketKey{c.KeyID, bucket.Unix(), c.Outcome}
		if i, ok := index[k]; ok {
			out[i].Count += c.Count
			continue
		}
		index[k] = len(out)
		out = append(out, Count{KeyID: c.KeyID, ProgramID: c.ProgramID, Bucket: bucket, Outcome: c.Outcome, Count: c.Count})
	}
	slices.SortFunc(out, compareCounts)
	return out
}

// Rollup deletes minute buckets older than MinuteRetention and hour
// buckets older than HourRetention (their hours and days already hold
// them: Write adds every count to all three), days older than
// DayRetention, and old or surplus client rows. Each step is one
// statement; it returns the number of rows removed.
func (s *Store) Rollup(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	var removed int64
	for _, old := range []struct {
		resolution string
		before     time.Time
	}{
		// Whole hours of minutes and whole days of hours only: a partly
		// old hour (day) keeps its minutes (hours) until its end.
		{Minute, now.Add(-MinuteRetention).Truncate(time.Hour)},
		{Hour, hoursFrom(now)},
		{Day, now.Add(-DayRetention)},
	} {
		res := db.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, old.resolution, old.before)
		if res.Error != nil {
			return removed, fmt.Errorf("usage: unable to delete old %s buckets: %w", old.resolution, res.Error)
		}
		removed += res.RowsAffected
	}
	res := db.Exec(`DELETE FROM key_usage_clients WHERE last_seen < ?`, now.Add(-ClientRetention))
	if res.Error != nil {
		return removed, fmt.Errorf("usage: unable to delete old clients: %w", res.Error)
	}
	removed += res.RowsAffected
	n, err := s.trimClients(ctx)
	return removed + n, err
}

// hoursFrom is the start of the oldest day whose hour rows are kept at
// now: before it the retention job deletes hours, and sums per hour read
// day rows instead (see hourSpans).
func hoursFrom(now time.Time) time.Time {
	return now.UTC().Add(-HourRetention).Truncate(24 * time.Hour)
}

// trimClients keeps each key's ClientsPerKey most recent client rows.
func (s *Store) trimClients(ctx context.Context) (int64, error) {
	db := s.db.WithContext(ctx)
	var keyIDs []int64
	if err := db.Raw(`SELECT key_id FROM key_usage_clients GROUP BY key_id HAVING COUNT(*) > ?`, ClientsPerKey).Scan(&keyIDs).Error; err != nil {
		return 0, fmt.Errorf("usage: unable to count clients: %w", err)
	}
	var removed int64
	for _, id := range keyIDs {
		var keep time.Time
		if err := db.Raw(`SELECT last_seen FROM key_usage_clients WHERE key_id = ? ORDER BY last_seen DESC LIMIT 1 OFFSET ?`, id, ClientsPerKey-1).Scan(&keep).Error; err != nil {
			return removed, fmt.Errorf("usage: unable to trim clients: %w", err)
		}
		res := db.Exec(`DELETE FROM key_usage_clients WHERE key_id = ? AND last_seen < ?`, id, keep)
		if res.Error != nil {
			return removed, fmt.Errorf("usage: unable to trim clients: %w", res.Error)
		}
		removed += res.RowsAffected
	}
	return removed, nil
}

// Clients are the latest addresses and user agents the key was used from,
// most recent first.
func (s *Store) Clients(ctx context.Context, programID, keyID int64, limit int) ([]Client, error) {
	var rows []Client
	if err := s.db.WithContext(ctx).Raw(`SELECT key_id, program_id, ip, user_agent, last_seen, count FROM key_usage_clients
WHERE key_id = ? AND program_id = ? ORDER BY last_seen DESC LIMIT ?`, keyID, programID, limit).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("usage: unable to read clients: %w", err)
	}
	return rows, nil
}

// RequestsSince is each of the program's keys' request count (every
// outcome) since the time given (to the minute within MinuteRetention,
// to the hour within HourRetention), by key id.
func (s *Store) RequestsSince(ctx context.Context, programID int64, since time.Time) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, sp := range daySpans(since) {
		var rows []struct {
			KeyID int64
			Total int64
		}
		if err := s.db.WithContext(ctx).Raw(`SELECT key_id, SUM(count) AS total FROM key_usage
WHERE program_id = ? AND `+sp.where+` GROUP BY key_id`, append([]any{programID}, sp.args...)...).Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("usage: unable to read request totals: %w", err)
		}
		for _, r := range rows {
			out[r.KeyID] += r.Total
		}
	}
	return out, nil
}

// span is a range of key_usage rows of one resolution: a condition and
// its arguments.
type span struct {
	where string
	args  []any
}

// rangeOf is the span of a resolution's buckets in [from, to); a zero to
// leaves it open.
func rangeOf(resolution string, from, to time.Time) span {
	if to.IsZero() {
		return span{`resolution = ? AND bucket >= ?`, []any{resolution, from}}
	}
	return span{`resolution = ? AND bucket >= ? AND bucket < ?`, []any{resolution, from, to}}
}

// daySpans are the ranges of rows that count every call at or after since
// exactly once, coarsest first: day rows from the next whole UTC day on,
// hour rows from the next whole hour up to it, minute rows from since up
// to that hour (exact within MinuteRetention, and the hours within
// HourRetention). A span that would be empty is left out; each is read on
// its own, so that each is one index range of one resolution. (One
// statement for several resolutions, "resolution IN (hour, day)", let
// PostgreSQL without statistics range over the key's buckets of every
// resolution and filter: a 30-day read walked all the key's minutes.)
func daySpans(since time.Time) []span {
	since = since.UTC()
	nextHour := ceil(since, time.Hour)
	nextDay := ceil(since, 24*time.Hour)
	out := []span{rangeOf(Day, nextDay, time.Time{})}
	if nextHour.Before(nextDay) {
		out = append(out, rangeOf(Hour, nextHour, nextDay))
	}
	if since.Before(nextHour) {
		out = append(out, rangeOf(Minute, since, nextHour))
	}
	return out
}

// hourSpans are the ranges of rows that count every call at or after
// since exactly once to the hour: hour rows from the next whole hour on
// and minute rows up to it, as daySpans; when since is older than the
// hours kept at now (hoursFrom), the day rows before them instead (a day
// keeps its start) and the hours from there on.
func hourSpans(since, now time.Time) []span {
	since = since.UTC()
	nextHour := ceil(since, time.Hour)
	var out []span
	if kept := hoursFrom(now); nextHour.Before(kept) {
		out = append(out, rangeOf(Day, ceil(since, 24*time.Hour), kept))
		nextHour = kept
	}
	out = append(out, rangeOf(Hour, nextHour, time.Time{}))
	if since.Before(ceil(since, time.Hour)) {
		out = append(out, rangeOf(Minute, since, ceil(since, time.Hour)))
	}
	return out
}

// ceil is t rounded up to a whole step (t itself when it is one).
func ceil(t time.Time, step time.Duration) time.Time {
	if down := t.Truncate(step); down.Before(t) {
		return down.Add(step)
	}
	return t
}
