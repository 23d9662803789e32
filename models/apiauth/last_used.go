package apiauth

import (
	"context"
	"sync"
	"time"

	"keydesk/models/database"
	"keydesk/models/keys"
)

// UsageRecorder remembers in memory when each key was last used and writes
// it to api_keys.last_used_at in batches, so that no request waits for a
// database write. Flushed once per interval by a background loop, a key's
// row is written at most once per interval.
type UsageRecorder struct {
	store   *keys.Store
	now     database.Clock
	mu      sync.Mutex
	pending map[int64]time.Time
}

// NewUsageRecorder builds a recorder over store.
func NewUsageRecorder(store *keys.Store, now database.Clock) *UsageRecorder {
	return &UsageRecorder{store: store, now: now, pending: map[int64]time.Time{}}
}

// Record notes that the key was used now. It never touches the database.
func (u *UsageRecorder) Record(keyID int64) { u.RecordAt(keyID, u.now()) }

// RecordAt notes that the key was used at now.
func (u *UsageRecorder) RecordAt(keyID int64, now time.Time) {
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

// Flush writes the recorded times, never moving a column backwards. On
// failure the times are kept for the next flush.
func (u *UsageRecorder) Flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[int64]time.Time{}
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := u.store.RecordLastUsed(ctx, batch); err != nil {
		u.mu.Lock()
		for id, t := range batch {
			if t.After(u.pending[id]) {
				u.pending[id] = t
			}
		}
		u.mu.Unlock()
		return err
	}
	return nil
}
