package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
)

// Expiry notices the sweep emits, once each per key and expiry.
const (
	NoticeSevenDays = "7d"      // api_key.expiring, 7 days before
	NoticeOneDay    = "1d"      // api_key.expiring, 1 day before
	NoticeExpired   = "expired" // api_key.expired
)

// expiredNoticeWindow bounds how long after its expiry a key still gets its
// api_key.expired notice (a sweep after downtime still sends it; keys that
// expired long before the sweep existed do not flood the receivers).
const expiredNoticeWindow = 7 * 24 * time.Hour

// expiryNotice is the most pressing notice due for an expiry at now: a
// key found within 1 day gets only the 1-day notice, an expired one only
// the expired notice.
func expiryNotice(expiresAt, now time.Time) string {
	switch left := expiresAt.Sub(now); {
	case left <= 0:
		return NoticeExpired
	case left <= 24*time.Hour:
		return NoticeOneDay
	case left <= 7*24*time.Hour:
		return NoticeSevenDays
	}
	return ""
}

// SweepExpiry emits the expiry notices that are due: api_key.expiring 7
// days and 1 day before a key's expires_at, api_key.expired when it comes,
// each audited and written to the outbox in one transaction with the row
// in key_expiry_notices that claims it. That row's UNIQUE (key_id, kind,
// expires_at) makes the notice once-only across any number of instances
// sweeping at the same time: the loser's insert does nothing and it emits
// nothing. It returns how many notices it emitted.
func (s *Store) SweepExpiry(ctx context.Context) (int, error) {
	now := s.now()
	var rows []struct {
		ID, ProgramID int64
		ExpiresAt     time.Time
	}
	db := s.db.WithContext(ctx)
	err := db.Raw(`SELECT id, program_id, expires_at FROM api_keys k WHERE expires_at IS NOT NULL AND expires_at <= ? AND expires_at > ?
AND NOT EXISTS (SELECT 1 FROM key_expiry_notices n WHERE n.key_id = k.id AND n.expires_at = k.expires_at
	AND n.kind = CASE WHEN k.expires_at <= ? THEN ? WHEN k.expires_at <= ? THEN ? ELSE ? END)
ORDER BY expires_at, id LIMIT 500`, now.Add(7*24*time.Hour), now.Add(-expiredNoticeWindow),
		now, NoticeExpired, now.Add(24*time.Hour), NoticeOneDay, NoticeSevenDays).Scan(&rows).Error
	if err != nil {
		return 0, fmt.Errorf("keys: unable to find expiring keys: %w", err)
	}
	emitted := 0
	for _, r := range rows {
		kind := expiryNotice(r.ExpiresAt, now)
		if kind == "" {
			continue
		}
		var done bool
		err := db.Transaction(func(tx *gorm.DB) error {
			k, err := keyByID(tx, r.ProgramID, r.ID)
			if err != nil {
				return err
			}
			if k.ExpiresAt == nil || !k.ExpiresAt.Equal(r.ExpiresAt) {
				return nil // its expiry changed meanwhile; the next sweep sees the new one
			}
			res := tx.Exec(`INSERT INTO key_expiry_notices (key_id, kind, expires_at, program_id, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (key_id, kind, expires_at) DO NOTHING`, k.ID, kind, r.ExpiresAt, r.ProgramID, now)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return nil // already emitted, here or by another instance
			}
			action := audit.ActionKeyExpiring
			if kind == NoticeExpired {
				action = audit.ActionKeyExpired
			}
			entry := keyAudit(action, k)
			entry.Details = map[string]any{"notice": kind, "expires_at": k.ExpiresAt.UTC().Format(time.RFC3339)}
			if err := s.appendAndNotify(tx, r.ProgramID, audit.Actor{}, entry, k); err != nil {
				return err
			}
			done = true
			return nil
		})
		if errors.Is(err, database.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return emitted, fmt.Errorf("keys: unable to emit an expiry notice: %w", err)
		}
		if done {
			emitted++
		}
	}
	return emitted, nil
}
