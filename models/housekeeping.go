package models

import (
	"fmt"
	"time"
)

// authFailureRetention keeps failure rows long enough for every throttle
// window that reads them.
const authFailureRetention = 24 * time.Hour

// PurgeExpired deletes sessions past their expiry and sign-in failures too
// old to count toward any throttle. It returns how many rows went.
func (s *Store) PurgeExpired() (sessions, failures int64, err error) {
	now := s.now()
	res := s.db.Exec(`DELETE FROM sessions WHERE expires_at < ?`, now)
	if res.Error != nil {
		return 0, 0, fmt.Errorf("store: unable to purge expired sessions: %w", res.Error)
	}
	sessions = res.RowsAffected
	res = s.db.Exec(`DELETE FROM auth_failures WHERE created_at < ?`, now.Add(-authFailureRetention))
	if res.Error != nil {
		return sessions, 0, fmt.Errorf("store: unable to purge old sign-in failures: %w", res.Error)
	}
	return sessions, res.RowsAffected, nil
}
