package managementkeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/keys"
)

// What a leak did to a management key, in its audit details and event.
const (
	leakRevoked        = "revoked"
	leakAlreadyRevoked = "already revoked"
)

// RevokeLeaked revokes the management key whose secret is token, reported
// leaked (GitHub secret scanning, the public revocation API): a leaked
// management key is revoked always, whatever the program's When a key is
// found leaked. found reports whether token is a management key of
// keydesk, revoked or not. In one transaction with the key's row locked:
// the key is revoked (its digest announced, so every instance refuses it
// when this commits), audited as management_key.revoked with reason
// "leaked" and where it was found, and management_key.leaked is enqueued
// for webhooks and the full-access admins' mail. Once per key and alert:
// the same alert sent again changes and audits nothing; another alert
// naming a key already revoked is audited once more ("already revoked").
func (s *Store) RevokeLeaked(ctx context.Context, token string, where keys.LeakSighting) (found bool, err error) {
	if keys.CheckManagementKeyFormat(token) != nil {
		return false, nil
	}
	c, err := s.CredentialByDigest(ctx, keys.KeyDigest(token))
	if err != nil || c == nil {
		return false, err
	}
	where = where.Clipped()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := lockedKey(tx, c.ProgramID, c.ID)
		if err != nil {
			return err
		}
		found = true
		now := s.now().UTC()
		first := tx.Exec(`INSERT INTO management_key_leak_reports (management_key_id, alert_digest, created_at) VALUES (?, ?, ?) ON CONFLICT (management_key_id, alert_digest) DO NOTHING`,
			k.ID, fmt.Sprintf("%x", where.AlertDigest), now)
		if first.Error != nil {
			return first.Error
		}
		if first.RowsAffected == 0 {
			return nil // this alert was handled already
		}
		outcome := leakAlreadyRevoked
		if k.RevokedAt == nil {
			outcome = leakRevoked
			k.RevokedAt = &now
			if err := tx.Exec(`UPDATE management_keys SET revoked_at = ? WHERE id = ?`, now, k.ID).Error; err != nil {
				return err
			}
			if err := s.revocations.Announce(tx, k.Digest); err != nil {
				return err
			}
		}
		entry := keyAudit(audit.ActionManagementKeyRevoked, k)
		entry.Details = map[string]any{"reason": "leaked", "url": where.URL, "source": where.Source, "response": outcome}
		if err := s.audit.Append(tx, k.ProgramID, where.Actor, entry); err != nil {
			return err
		}
		return s.outbox.Enqueue(tx, k.ProgramID, audit.LeakWebhookEventType(entry.Action), where.Actor, map[string]any{
			"management_key": leakedKeyData(k),
			"leak":           map[string]any{"url": where.URL, "source": where.Source, "response": outcome, "reported_by": where.Actor.Email},
		})
	})
	if errors.Is(err, database.ErrNotFound) {
		return false, nil // gone since the lookup: nothing left to revoke
	}
	if err != nil {
		return false, fmt.Errorf("managementkeys: unable to revoke a leaked management key: %w", err)
	}
	return found, nil
}

// lockedKey loads a management key, revoked or not, with its row locked
// (PostgreSQL; SQLite's immediate transaction holds the lock already).
func lockedKey(tx *gorm.DB, programID, id int64) (*Key, error) {
	var rows []Key
	if err := tx.Raw(`SELECT * FROM management_keys WHERE program_id = ? AND id = ?`+database.ForUpdate(tx), programID, id).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("unable to lock management key: %w", err)
	}
	if len(rows) == 0 {
		return nil, database.ErrNotFound
	}
	return &rows[0], nil
}

// leakedKeyData is the management key in a management_key.leaked event:
// what names it, never its secret or digest.
func leakedKeyData(k *Key) map[string]any {
	scopes := []string{}
	for _, sc := range k.ScopeList() {
		scopes = append(scopes, string(sc))
	}
	data := map[string]any{"id": k.ID, "identifier": k.Identifier, "name": k.Name, "scopes": scopes,
		"revoked_at": k.RevokedAt.UTC().Format(time.RFC3339)}
	if k.ExpiresAt != nil {
		data["expires_at"] = k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return data
}
