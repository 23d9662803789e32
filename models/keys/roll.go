package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// announceKey tells the verifiers' caches to forget every secret of k (its
// current digest and a roll's old one).
func (s *Store) announceKey(tx *gorm.DB, k *APIKey) error {
	if err := s.revocations.announce(tx, k.Digest); err != nil {
		return err
	}
	if k.OldDigest != nil {
		return s.revocations.announce(tx, k.OldDigest)
	}
	return nil
}

func expiryWords(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// updateAccess applies a change of permissions and allowed addresses (nil:
// none asked) to k inside tx: it writes the row, announces the key so
// every cache reloads it and appends api_key.updated with before/after. It
// reports whether anything changed.
func (s *Store) updateAccess(tx *gorm.DB, programID int64, actor audit.Actor, k *APIKey, acc *access) (bool, error) {
	if acc == nil || (acc.restricted == k.Restricted && acc.permissions == k.Permissions && acc.allowedIPs == k.AllowedIPs) {
		return false, nil
	}
	before := accessDetails(k)
	k.Restricted, k.Permissions, k.AllowedIPs = acc.restricted, acc.permissions, acc.allowedIPs
	if err := tx.Exec(`UPDATE api_keys SET restricted = ?, permissions = ?, allowed_ips = ?, updated_at = ? WHERE id = ?`,
		k.Restricted, k.Permissions, k.AllowedIPs, k.UpdatedAt, k.ID).Error; err != nil {
		return false, err
	}
	if err := s.announceKey(tx, k); err != nil {
		return false, err
	}
	entry := keyAudit(audit.ActionKeyUpdated, k)
	entry.Details = map[string]any{"before": before, "after": accessDetails(k)}
	return true, s.audit.Append(tx, programID, actor, entry)
}

func sameInstant(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// updateExpiry applies a new expiry (nil: none asked) to k inside tx,
// refusing an instant in the past or beyond the program's maximum key
// lifetime; it announces the key so every cache reloads it and appends
// api_key.updated with before/after. It reports whether anything changed.
func (s *Store) updateExpiry(tx *gorm.DB, programID int64, actor audit.Actor, k *APIKey, change *ExpiryChange) (bool, error) {
	if change == nil || sameInstant(change.At, k.ExpiresAt) {
		return false, nil
	}
	now := s.now()
	if change.At != nil && !change.At.After(now) {
		return false, input.ValidationError{"expires_at": "The expiry is in the past. Choose a later time."}
	}
	maxDays, err := maxKeyLifetimeDays(tx, programID)
	if err != nil {
		return false, err
	}
	if maxDays > 0 && (change.At == nil || change.At.After(now.AddDate(0, 0, maxDays))) {
		return false, input.ValidationError{"expires_at": fmt.Sprintf("This program's keys may live at most %d days (Settings » Maximum key lifetime). Choose an earlier expiry.", maxDays)}
	}
	before := expiryWords(k.ExpiresAt)
	k.ExpiresAt = nil
	if change.At != nil {
		at := change.At.UTC()
		k.ExpiresAt = &at
	}
	if err := tx.Exec(`UPDATE api_keys SET expires_at = ?, updated_at = ? WHERE id = ?`, k.ExpiresAt, s.now(), k.ID).Error; err != nil {
		return false, err
	}
	if err := s.announceKey(tx, k); err != nil {
		return false, err
	}
	entry := keyAudit(audit.ActionKeyUpdated, k)
	entry.Details = map[string]any{"before": map[string]any{"expires": before}, "after": map[string]any{"expires": expiryWords(k.ExpiresAt)}}
	return true, s.appendAndNotify(tx, programID, actor, entry, k)
}

// Roll gives a key a new secret under the same row and identifier (so UI
// tokens keep their sub). The old secret keeps authenticating for overlap
// (zero: it stops at once); a previous roll's old secret, if still kept,
// is destroyed now. The new secret is returned once, in key.Secret. An
// inactive key is refused: activating it first makes the choice explicit.
func (s *Store) Roll(ctx context.Context, programID int64, actor audit.Actor, id int64, overlap time.Duration) (*APIKey, error) {
	return s.RollConfirmed(ctx, nil, programID, actor, id, overlap)
}

// RollConfirmed is Roll that first runs confirm (when not nil) in its
// transaction: the admin's one-time confirmation is spent if and only if
// the roll commits, and a confirm error refuses the roll.
func (s *Store) RollConfirmed(ctx context.Context, confirm database.TxStep, programID int64, actor audit.Actor, id int64, overlap time.Duration) (*APIKey, error) {
	if overlap < 0 {
		return nil, input.ValidationError{"overlap": "Choose when the old key stops working."}
	}
	var key *APIKey
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if confirm != nil {
			if err := confirm(tx); err != nil {
				return err
			}
		}
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		if !k.Active {
			return ErrKeyInactive
		}
		oldSecret, err := s.keyring.Open(k.ID, k.Sealed, k.KeyVersion)
		if err != nil {
			return err
		}
		// Every cache forgets the current and any earlier old secret; the
		// current one comes back, if kept, with its new end.
		if err := s.announceKey(tx, k); err != nil {
			return err
		}
		now := s.now()
		secret := NewAPIKeyString()
		before := map[string]any{"last4": k.Last4}
		// An earlier roll's old secret, still in its overlap, stops now;
		// so does the current one when it gets no overlap.
		if err := s.retireDigest(tx, k, k.OldDigest); err != nil {
			return err
		}
		if overlap == 0 {
			if err := s.retireDigest(tx, k, k.Digest); err != nil {
				return err
			}
		}
		k.OldDigest, k.OldSealed, k.OldKeyVersion, k.OldExpiresAt = nil, nil, 0, nil
		if overlap > 0 {
			until := now.Add(overlap).UTC()
			k.OldDigest = k.Digest
			k.OldSealed, k.OldKeyVersion = s.keyring.Seal(k.ID, oldSecret)
			k.OldExpiresAt = &until
		}
		k.Digest, k.Last4, k.UpdatedAt = KeyDigest(secret), secret[len(secret)-4:], now
		k.Sealed, k.KeyVersion = s.keyring.Seal(k.ID, secret)
		k.Secret = secret
		if err := tx.Exec(`UPDATE api_keys SET digest = ?, sealed = ?, key_version = ?, last4 = ?, old_digest = ?, old_sealed = ?, old_key_version = ?, old_expires_at = ?, updated_at = ? WHERE id = ?`,
			k.Digest, k.Sealed, k.KeyVersion, k.Last4, k.OldDigest, k.OldSealed, k.OldKeyVersion, k.OldExpiresAt, k.UpdatedAt, k.ID).Error; err != nil {
			return err
		}
		key = k
		entry := keyAudit(audit.ActionKeyRolled, k)
		entry.Details = map[string]any{"before": before, "after": map[string]any{"last4": k.Last4}, "old_key_works_until": expiryWords(k.OldExpiresAt)}
		if overlap == 0 {
			entry.Details["old_key_works_until"] = "stopped at once"
		}
		return s.appendAndNotify(tx, programID, actor, entry, k)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "roll")
	}
	return key, nil
}

// ExpireOldKey ends a roll's overlap now: the old secret stops working on
// every instance when this commits, and is destroyed.
func (s *Store) ExpireOldKey(ctx context.Context, programID int64, actor audit.Actor, id int64) (*APIKey, error) {
	var key *APIKey
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		if k.OldDigest == nil {
			return ErrNoOldKey
		}
		key = k
		return s.destroyOldKey(tx, programID, actor, k, "expired early by an admin")
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "expire the old secret of")
	}
	return key, nil
}

// destroyOldKey ends a roll's overlap inside tx: the old secret is erased
// from the row and announced together with the current one. The current
// digest matters as much as the old: its cached entry carries the old
// sealed secret, which UI tokens are checked against (a token's sub leads
// to the current key), so announcing the old digest alone would leave
// tokens signed with the old secret good until that entry expired.
func (s *Store) destroyOldKey(tx *gorm.DB, programID int64, actor audit.Actor, k *APIKey, reason string) error {
	if err := s.announceKey(tx, k); err != nil {
		return err
	}
	until := expiryWords(k.OldExpiresAt)
	if err := s.retireDigest(tx, k, k.OldDigest); err != nil {
		return err
	}
	k.OldDigest, k.OldSealed, k.OldKeyVersion, k.OldExpiresAt = nil, nil, 0, nil
	if err := tx.Exec(`UPDATE api_keys SET old_digest = NULL, old_sealed = NULL, old_key_version = 0, old_expires_at = NULL WHERE id = ?`, k.ID).Error; err != nil {
		return err
	}
	entry := keyAudit(audit.ActionKeyOldExpired, k)
	entry.Details = map[string]any{"reason": reason, "was_working_until": until}
	return s.audit.Append(tx, programID, actor, entry)
}

// DestroyEndedOverlaps destroys the old secrets whose overlap has ended
// (the verifiers already refuse them from that instant), each with its
// audit event, and reports how many. The background sweep calls it.
func (s *Store) DestroyEndedOverlaps(ctx context.Context) (int, error) {
	var rows []struct{ ID, ProgramID int64 }
	db := s.db.WithContext(ctx)
	if err := db.Raw(`SELECT id, program_id FROM api_keys WHERE old_expires_at IS NOT NULL AND old_expires_at <= ? ORDER BY id LIMIT 500`, s.now()).Scan(&rows).Error; err != nil {
		return 0, fmt.Errorf("keys: unable to find ended overlaps: %w", err)
	}
	done := 0
	for _, r := range rows {
		err := db.Transaction(func(tx *gorm.DB) error {
			k, err := editableKey(tx, r.ProgramID, r.ID)
			if err != nil {
				return err
			}
			if k.OldDigest == nil || k.OldExpiresAt == nil || s.now().Before(*k.OldExpiresAt) {
				return nil // expired early or rolled again meanwhile
			}
			done++
			return s.destroyOldKey(tx, r.ProgramID, audit.Actor{}, k, "overlap ended")
		})
		if err != nil && !errors.Is(err, database.ErrNotFound) {
			return done, fmt.Errorf("keys: unable to destroy an old secret: %w", err)
		}
	}
	return done, nil
}

// MaxKeyLifetime is the program's cap on new keys' lifetime in days (0:
// none).
func (s *Store) MaxKeyLifetime(ctx context.Context, programID int64) (int, error) {
	return maxKeyLifetimeDays(s.db.WithContext(ctx), programID)
}

func maxKeyLifetimeDays(tx *gorm.DB, programID int64) (int, error) {
	var days []int
	if err := tx.Raw(`SELECT max_key_lifetime_days FROM programs WHERE id = ?`, programID).Scan(&days).Error; err != nil {
		return 0, fmt.Errorf("keys: unable to read the maximum key lifetime: %w", err)
	}
	if len(days) == 0 {
		return 0, database.ErrNotFound
	}
	return days[0], nil
}

// SetMaxKeyLifetime sets the program's cap on new keys' lifetime (0: none),
// one of MaxKeyLifetimeChoices, auditing before/after. Existing keys keep
// their expiry; the default key is exempt.
func (s *Store) SetMaxKeyLifetime(ctx context.Context, programID int64, actor audit.Actor, days int) error {
	valid := false
	for _, d := range MaxKeyLifetimeChoices {
		valid = valid || d == days
	}
	if !valid {
		return input.ValidationError{"max_key_lifetime": "Choose a maximum key lifetime from the list."}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		before, err := maxKeyLifetimeDays(tx, programID)
		if err != nil {
			return err
		}
		if before == days {
			return nil
		}
		if err := tx.Exec(`UPDATE programs SET max_key_lifetime_days = ? WHERE id = ?`, days, programID).Error; err != nil {
			return err
		}
		var partnerID string
		if err := tx.Raw(`SELECT partner_id FROM programs WHERE id = ?`, programID).Scan(&partnerID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionKeyLifetimeChanged, TargetType: audit.TargetProgram, TargetID: partnerID,
			Details: map[string]any{"before": map[string]any{"max_key_lifetime": lifetimeWords(before)}, "after": map[string]any{"max_key_lifetime": lifetimeWords(days)}},
		})
	})
	if err != nil {
		return passThroughKeyErrors(err, "set the maximum lifetime of")
	}
	return nil
}

func lifetimeWords(days int) string {
	if days == 0 {
		return "no maximum"
	}
	return fmt.Sprintf("%d days", days)
}
