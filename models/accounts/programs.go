package accounts

import (
	"context"
	"errors"
	"fmt"
	"keydesk/models/database"
	"keydesk/models/input"
	"time"

	"gorm.io/gorm"
)

// Program is one loyalty program (a tenant).
type Program struct {
	ID        int64
	Name      string
	PartnerID string
	CreatedAt time.Time
	// RequireTwoFactor sends the program's admins without a second factor
	// to set one up before anything else.
	RequireTwoFactor bool
	// RequireSSO refuses password and passkey sign-in to the program's
	// admins except SSOBreakGlassAdminID (single_sign_on; filled by
	// Memberships only).
	RequireSSO           bool  `gorm:"-"`
	SSOBreakGlassAdminID int64 `gorm:"-"`
}

// MaxProgramNameLength bounds a program's name.
const MaxProgramNameLength = 100

// ErrInvalidProgramName is returned for an empty or overlong program name,
// or one that breaks input.CharacterRule.
var ErrInvalidProgramName = fmt.Errorf("program name must be 1 to %d characters, and %s", MaxProgramNameLength, input.CharacterRule)

// ProgramByPartnerID finds a program by its partner ID.
func (s *Store) ProgramByPartnerID(ctx context.Context, partnerID string) (*Program, error) {
	var p Program
	err := s.db.WithContext(ctx).Where("partner_id = ?", partnerID).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to find program: %w", err)
	}
	return &p, nil
}

// ProgramByID finds a program by id.
func (s *Store) ProgramByID(ctx context.Context, id int64) (*Program, error) {
	var p Program
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to find program: %w", err)
	}
	return &p, nil
}

// AllPrograms lists every program.
func (s *Store) AllPrograms(ctx context.Context) ([]Program, error) {
	var ps []Program
	err := s.db.WithContext(ctx).Order("id").Find(&ps).Error
	return ps, err
}
