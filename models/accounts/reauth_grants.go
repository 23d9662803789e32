package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// ReauthGrantLifetime bounds how long a one-time confirmation stays usable.
const ReauthGrantLifetime = time.Minute

// GrantReauth records a one-time confirmation of the admin's password for
// one program and returns its token (kept in the session; the table holds
// only its digest). ConsumeReauthGrant spends it.
func (s *Store) GrantReauth(ctx context.Context, adminID, programID int64) (string, error) {
	token := rand.Text()
	err := s.db.WithContext(ctx).Exec(`INSERT INTO reauth_grants (digest, admin_id, program_id, expires_at) VALUES (?, ?, ?, ?)`,
		grantDigest(token), adminID, programID, s.now().Add(ReauthGrantLifetime)).Error
	if err != nil {
		return "", fmt.Errorf("accounts: unable to record a re-authentication: %w", err)
	}
	return token, nil
}

// ConsumeReauthGrant spends a one-time confirmation: of simultaneous calls
// with the same token, exactly one deletes the row and gets true.
func (s *Store) ConsumeReauthGrant(ctx context.Context, adminID, programID int64, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	res := s.db.WithContext(ctx).Exec(`DELETE FROM reauth_grants WHERE digest = ? AND admin_id = ? AND program_id = ? AND expires_at > ?`,
		grantDigest(token), adminID, programID, s.now())
	if res.Error != nil {
		return false, fmt.Errorf("accounts: unable to use a re-authentication: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

func grantDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
