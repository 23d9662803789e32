package accounts

import (
	"context"
	"fmt"
)

// RecordSignIn notes when an admin last signed in.
func (s *Store) RecordSignIn(ctx context.Context, adminID int64) error {
	if err := s.db.WithContext(ctx).Exec(`UPDATE admins SET last_sign_in_at = ? WHERE id = ?`, s.now(), adminID).Error; err != nil {
		return fmt.Errorf("accounts: unable to record the sign-in: %w", err)
	}
	return nil
}
