package models

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"gorm.io/gorm"
)

// UsageRecorder remembers in memory when each key was last used and writes
// it to api_keys.last_used_at in batches, so that no request waits for a
// database write. Flushed once per interval by a background loop, a key's
// row is written at most once per interval.
type UsageRecorder struct {
	store   *Store
	mu      sync.Mutex
	pending map[int64]time.Time
}

// NewUsageRecorder builds a recorder over store.
func NewUsageRecorder(store *Store) *UsageRecorder {
	return &UsageRecorder{store: store, pending: map[int64]time.Time{}}
}

// Record notes that the key was used now. It never touches the database.
func (u *UsageRecorder) Record(keyID int64) {
	now := u.store.now()
	u.mu.Lock()
	if now.After(u.pending[keyID]) {
		u.pending[keyID] = now
	}
	u.mu.Unlock()
}

// Pending is the number of keys waiting to be flushed.
func (u *UsageRecorder) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.pending)
}

// Flush writes the recorded times in one transaction, in key order (so two
// instances flushing together cannot deadlock), never moving a column
// backwards. On failure the times are kept for the next flush.
func (u *UsageRecorder) Flush() error {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[int64]time.Time{}
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(batch))
	for id := range batch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := u.store.db.Transaction(func(tx *gorm.DB) error {
		for _, id := range ids {
			t := batch[id]
			if err := tx.Exec(`UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, t, id, t).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		u.mu.Lock()
		for id, t := range batch {
			if t.After(u.pending[id]) {
				u.pending[id] = t
			}
		}
		u.mu.Unlock()
		return fmt.Errorf("store: unable to record API key use: %w", err)
	}
	return nil
}
