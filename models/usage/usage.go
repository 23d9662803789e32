// Package usage counts every API verification by key and outcome: in
// memory on the request path (Recorder), flushed in batches to minute
// buckets and, in the same transaction, to hour buckets (Store.Write);
// minutes are deleted after 48 hours and hours rolled up to days after 90
// days, and the usage view reads hours (and days), never every minute. No
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

// Retention: minutes are deleted after MinuteRetention (their hours hold
// them from the flush on), hours become days after HourRetention, days
// are deleted after DayRetention; the addresses a key was used from are
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

// Write adds minute counts to their minute buckets and to their hour
// buckets, and client sightings, in one transaction: an hour row always
// holds every call of its hour written so far, so the usage page reads
// hours, never minutes. Rows are written in key order, so two instances
// flushing at once cannot deadlock.
func (s *Store) Write(ctx context.Context, counts []Count, clients []Client) error {
	minutes := sumPer(counts, time.Minute)
	hours := sumPer(counts, time.Hour)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := upsertCounts(tx, Minute, minutes); err != nil {
			return err
		}
		if err := upsertCounts(tx, Hour, hours); err != nil {
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

// Rollup deletes minute buckets older than MinuteRetention (their hours
// already hold them: Write adds every count to both), folds hour buckets
// older than HourRetention into days, deletes days older than
// DayRetention and old or surplus client rows. Each step is one
// transaction; it returns the number of rows removed.
func (s *Store) Rollup(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	db := s.db.WithContext(ctx)
	// Whole hours of minutes only: a partly old hour keeps its minutes
	// until its end.
	res := db.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, Minute, now.Add(-MinuteRetention).Truncate(time.Hour))
	if res.Error != nil {
		return 0, fmt.Errorf("usage: unable to delete old minutes: %w", res.Error)
	}
	removed := res.RowsAffected
	// Whole days only: a partly old day waits for its end.
	n, err := s.foldHoursIntoDays(ctx, now.Add(-HourRetention).Truncate(24*time.Hour))
	if err != nil {
		return removed, err
	}
	removed += n
	res = db.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, Day, now.Add(-DayRetention))
	if res.Error != nil {
		return removed, fmt.Errorf("usage: unable to delete old days: %w", res.Error)
	}
	removed += res.RowsAffected
	res = db.Exec(`DELETE FROM key_usage_clients WHERE last_seen < ?`, now.Add(-ClientRetention))
	if res.Error != nil {
		return removed, fmt.Errorf("usage: unable to delete old clients: %w", res.Error)
	}
	removed += res.RowsAffected
	n, err = s.trimClients(ctx)
	return removed + n, err
}

// foldHoursIntoDays moves the hour rows with bucket < cutoff into day
// rows, summed per UTC day.
func (s *Store) foldHoursIntoDays(ctx context.Context, cutoff time.Time) (int64, error) {
	var removed int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []Count
		if err := tx.Raw(`SELECT key_id, program_id, bucket, outcome, count FROM key_usage WHERE resolution = ? AND bucket < ?`+database.ForUpdate(tx),
			Hour, cutoff).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		if err := upsertCounts(tx, Day, sumPer(rows, 24*time.Hour)); err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, Hour, cutoff)
		removed = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("usage: unable to roll hour buckets into days: %w", err)
	}
	return removed, nil
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
// outcome) since the time given (to the minute within MinuteRetention),
// by key id.
func (s *Store) RequestsSince(ctx context.Context, programID int64, since time.Time) (map[int64]int64, error) {
	out := map[int64]int64{}
	for _, sp := range spansSince(since) {
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

// span is a range of key_usage rows: a condition and its arguments.
type span struct {
	where string
	args  []any
}

// spansSince are the ranges of rows that count every call at or after
// since exactly once, each read on its own so that each is one index
// range on an equal resolution: hour rows and day rows from since on when
// since starts an hour; otherwise hour and day rows from the next whole
// hour and minute rows up to it (exact within MinuteRetention). A day row
// counts from its start. (One statement for hours and days, "resolution
// IN (hour, day)", let PostgreSQL without statistics range over the key's
// buckets of every resolution and filter: a 30-day read walked all the
// key's minutes.)
func spansSince(since time.Time) []span {
	since = since.UTC()
	next := since.Truncate(time.Hour)
	whole := []span{
		{`resolution = ? AND bucket >= ?`, []any{Hour, next}},
		{`resolution = ? AND bucket >= ?`, []any{Day, next}},
	}
	if next.Equal(since) {
		return whole
	}
	next = next.Add(time.Hour)
	whole[0].args[1], whole[1].args[1] = next, next
	return append(whole, span{`resolution = ? AND bucket >= ? AND bucket < ?`, []any{Minute, since, next}})
}
