package accounts

import (
	"context"
	"fmt"
	"time"
)

// authFailureRetention keeps failure rows long enough for every throttle
// window that reads them.
const authFailureRetention = 24 * time.Hour

// PurgeAuthFailures deletes sign-in and re-authentication failures too old
// to count toward any throttle, expired one-time re-authentications and
// answered passkey challenges past their expiry, and returns how many rows
// went.
func (s *Store) PurgeAuthFailures(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM auth_failures WHERE created_at < ?`, s.now().Add(-authFailureRetention))
	if res.Error != nil {
		return 0, fmt.Errorf("accounts: unable to purge old sign-in failures: %w", res.Error)
	}
	grants := s.db.WithContext(ctx).Exec(`DELETE FROM reauth_grants WHERE expires_at < ?`, s.now())
	if grants.Error != nil {
		return 0, fmt.Errorf("accounts: unable to purge expired re-authentications: %w", grants.Error)
	}
	challenges := s.db.WithContext(ctx).Exec(`DELETE FROM passkey_challenges_used WHERE expires_at < ?`, s.now())
	if challenges.Error != nil {
		return 0, fmt.Errorf("accounts: unable to purge answered passkey challenges: %w", challenges.Error)
	}
	return res.RowsAffected + grants.RowsAffected + challenges.RowsAffected, nil
}
