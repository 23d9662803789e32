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
// to count toward any throttle, and returns how many went.
func (s *Store) PurgeAuthFailures(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`DELETE FROM auth_failures WHERE created_at < ?`, s.now().Add(-authFailureRetention))
	if res.Error != nil {
		return 0, fmt.Errorf("accounts: unable to purge old sign-in failures: %w", res.Error)
	}
	return res.RowsAffected, nil
}
