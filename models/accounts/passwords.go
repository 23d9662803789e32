package accounts

import (
	"context"
	"fmt"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"

	"keydesk/models/audit"
)

// ChangePassword sets a new password after the current one was confirmed
// (by the caller, through Reauthenticate), audited.
func (s *Store) ChangePassword(ctx context.Context, programID int64, actor audit.Actor, newPassword string) error {
	if len(newPassword) < MinPasswordLength || len(newPassword) > MaxPasswordLength {
		return ErrWeakPassword
	}
	hash, err := argon2id.CreateHash(newPassword, passwordParams)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE admins SET password_hash = ? WHERE id = ?`, hash, actor.AdminID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionPasswordChanged, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(actor.AdminID), TargetName: actor.Email,
		})
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to change the password: %w", err)
	}
	return nil
}
