package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// ReauthGrantLifetime bounds how long a one-time confirmation stays usable.
const ReauthGrantLifetime = time.Minute

// GrantReauth records a one-time confirmation of the admin's password for
// one program and returns its token (kept in the session; the table holds
// only its digest). SpendReauthGrant spends it.
func (s *Store) GrantReauth(ctx context.Context, adminID, programID int64) (string, error) {
	token := rand.Text()
	err := s.db.WithContext(ctx).Exec(`INSERT INTO reauth_grants (digest, admin_id, program_id, expires_at) VALUES (?, ?, ?, ?)`,
		grantDigest(token), adminID, programID, s.now().Add(ReauthGrantLifetime)).Error
	if err != nil {
		return "", fmt.Errorf("accounts: unable to record a re-authentication: %w", err)
	}
	return token, nil
}

// ErrReauthGrantSpent refuses an action whose one-time confirmation was
// spent (by a simultaneous request), expired or never given.
var ErrReauthGrantSpent = errors.New("accounts: the one-time re-authentication was already used")

// HasReauthGrant reports whether the one-time confirmation is there to
// spend, without spending it: opening a dialog (a GET) looks, the action
// spends.
func (s *Store) HasReauthGrant(ctx context.Context, adminID, programID int64, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM reauth_grants WHERE digest = ? AND admin_id = ? AND program_id = ? AND expires_at > ?`,
		grantDigest(token), adminID, programID, s.now()).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("accounts: unable to look up a re-authentication: %w", err)
	}
	return n > 0, nil
}

// SpendReauthGrant is the step that spends a one-time confirmation inside
// the transaction of the action it allows: the grant goes only if the
// action commits, and of simultaneous actions exactly one deletes the row;
// the others get ErrReauthGrantSpent and are undone.
func (s *Store) SpendReauthGrant(adminID, programID int64, token string) database.TxStep {
	return func(tx *gorm.DB) error {
		res := tx.Exec(`DELETE FROM reauth_grants WHERE digest = ? AND admin_id = ? AND program_id = ? AND expires_at > ?`,
			grantDigest(token), adminID, programID, s.now())
		if res.Error != nil {
			return fmt.Errorf("accounts: unable to use a re-authentication: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return ErrReauthGrantSpent
		}
		return nil
	}
}

func grantDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
