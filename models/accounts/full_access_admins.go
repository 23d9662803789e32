package accounts

import (
	"context"
	"fmt"
)

// FullAccessEmails lists the emails of a program's full-access admins, the
// people a limited admin asks for access.
func (s *Store) FullAccessEmails(ctx context.Context, programID int64) ([]string, error) {
	var emails []string
	err := s.db.WithContext(ctx).Raw(`SELECT a.email FROM admins a JOIN memberships m ON m.admin_id = a.id WHERE m.program_id = ? AND m.access = ? ORDER BY a.email`, programID, AccessFull).Scan(&emails).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to list full-access admins: %w", err)
	}
	return emails, nil
}
