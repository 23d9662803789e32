// Package usage counts every API verification by key and outcome: in
// memory on the request path (Recorder), flushed in batches to minute
// buckets (Store.Write), rolled up to hours after 48 hours and to days
// after 90 days, and read back for a key's usage view. No request writes
// the database.
package usage

import (
	"cmp"
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

// Retention: minutes become hours after MinuteRetention, hours become days
// after HourRetention, days are deleted after DayRetention; the addresses
// a key was used from are kept for ClientRetention, at most ClientsPerKey.
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
	Bucket    time.Time // start of the minute, UTC
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

// Write adds minute counts and client sightings in one transaction, in
// key order, so two instances flushing at once cannot deadlock.
func (s *Store) Write(ctx context.Context, counts []Count, clients []Client) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := addCounts(tx, Minute, counts); err != nil {
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

func addCounts(tx *gorm.DB, resolution string, counts []Count) error {
	return upsertCounts(tx, resolution, counts)
}

// Rollup folds minute buckets older than MinuteRetention into hours and
// hour buckets older than HourRetention into days, deletes days older than
// DayRetention and old or surplus client rows. Each step is one
// transaction; it returns the number of rows removed.
func (s *Store) Rollup(ctx context.Context) (int64, error) {
	now := s.now().UTC()
	var removed int64
	for _, step := range []struct {
		from, to string
		age      time.Duration
		trunc    func(time.Time) time.Time
	}{
		{Minute, Hour, MinuteRetention, func(t time.Time) time.Time { return t.Truncate(time.Hour) }},
		{Hour, Day, HourRetention, func(t time.Time) time.Time { return t.Truncate(24 * time.Hour) }},
	} {
		// Whole target buckets only: a partly old hour waits for its end.
		cutoff := step.trunc(now.Add(-step.age))
		n, err := s.fold(ctx, step.from, step.to, cutoff, step.trunc)
		if err != nil {
			return removed, err
		}
		removed += n
	}
	db := s.db.WithContext(ctx)
	res := db.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, Day, now.Add(-DayRetention))
	if res.Error != nil {
		return removed, fmt.Errorf("usage: unable to delete old days: %w", res.Error)
	}
	removed += res.RowsAffected
	res = db.Exec(`DELETE FROM key_usage_clients WHERE last_seen < ?`, now.Add(-ClientRetention))
	if res.Error != nil {
		return removed, fmt.Errorf("usage: unable to delete old clients: %w", res.Error)
	}
	removed += res.RowsAffected
	n, err := s.trimClients(ctx)
	return removed + n, err
}

// fold moves the rows of resolution from with bucket < cutoff into
// resolution to, summed per truncated bucket.
func (s *Store) fold(ctx context.Context, from, to string, cutoff time.Time, trunc func(time.Time) time.Time) (int64, error) {
	var removed int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var rows []Count
		if err := tx.Raw(`SELECT key_id, program_id, bucket, outcome, count FROM key_usage WHERE resolution = ? AND bucket < ?`+database.ForUpdate(tx),
			from, cutoff).Scan(&rows).Error; err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		type k struct {
			key     int64
			bucket  time.Time
			outcome string
		}
		sums := map[k]*Count{}
		var out []Count
		for _, r := range rows {
			kk := k{r.KeyID, trunc(r.Bucket.UTC()), r.Outcome}
			if c, ok := sums[kk]; ok {
				c.Count += r.Count
				continue
			}
			sums[kk] = &Count{KeyID: r.KeyID, ProgramID: r.ProgramID, Bucket: kk.bucket, Outcome: r.Outcome, Count: r.Count}
		}
		for _, c := range sums {
			out = append(out, *c)
		}
		slices.SortFunc(out, func(a, b Count) int { return cmp.Compare(a.KeyID, b.KeyID) })
		if err := addCounts(tx, to, out); err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM key_usage WHERE resolution = ? AND bucket < ?`, from, cutoff)
		removed = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("usage: unable to roll %s buckets into %s: %w", from, to, err)
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

// Counts are a key's counts with buckets at or after since, every
// resolution, oldest first. The key is loaded through its program.
func (s *Store) Counts(ctx context.Context, programID, keyID int64, since time.Time) ([]Count, error) {
	var rows []Count
	if err := s.db.WithContext(ctx).Raw(`SELECT key_id, program_id, bucket, outcome, count FROM key_usage
WHERE key_id = ? AND program_id = ? AND bucket >= ? ORDER BY bucket`, keyID, programID, since.UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("usage: unable to read counts: %w", err)
	}
	return rows, nil
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
// outcome) since the time given, by key id.
func (s *Store) RequestsSince(ctx context.Context, programID int64, since time.Time) (map[int64]int64, error) {
	var rows []struct {
		KeyID int64
		Total int64
	}
	if err := s.db.WithContext(ctx).Raw(`SELECT key_id, SUM(count) AS total FROM key_usage
WHERE program_id = ? AND bucket >= ? GROUP BY key_id`, programID, since.UTC()).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("usage: unable to read request totals: %w", err)
	}
	out := make(map[int64]int64, len(rows))
	for _, r := range rows {
		out[r.KeyID] = r.Total
	}
	return out, nil
}
