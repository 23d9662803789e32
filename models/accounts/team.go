package accounts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/outbox"
)

// Errors of the team's management.
var (
	ErrLastFullAdmin = errors.New("the program's last full-access admin can be neither removed nor given limited access")
	ErrInvalidAccess = fmt.Errorf("access must be %q or %q", AccessFull, AccessLimited)
)

// TeamMember is one admin of a program as General » Admins lists them.
type TeamMember struct {
	AdminID      int64
	Email        string
	Access       string
	Modules      []string
	LastSignInAt *time.Time
	TwoFactor    bool
	CreatedAt    time.Time
}

// Team lists a program's admins, oldest membership first.
func (s *Store) Team(ctx context.Context, programID int64) ([]TeamMember, error) {
	var rows []struct {
		AdminID      int64
		Email        string
		Access       string
		Modules      string
		LastSignInAt *time.Time
		TotpSecret   string
		PasskeyCount int64
		CreatedAt    time.Time
	}
	err := s.db.WithContext(ctx).Raw(`SELECT m.admin_id, a.email, m.access, m.modules, a.last_sign_in_at, a.totp_secret, a.passkey_count, m.created_at
		FROM memberships m JOIN admins a ON a.id = m.admin_id WHERE m.program_id = ? ORDER BY m.created_at, m.id`, programID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to list the program's admins: %w", err)
	}
	out := make([]TeamMember, len(rows))
	for i, r := range rows {
		out[i] = TeamMember{AdminID: r.AdminID, Email: r.Email, Access: r.Access, Modules: splitModules(r.Modules),
			LastSignInAt: r.LastSignInAt, TwoFactor: r.TotpSecret != "" || r.PasskeyCount > 0, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// splitModules reads a stored module list; none is an empty list (JSON
// [], never null, in payloads and audit details).
func splitModules(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// checkAccess validates an access level and its modules, returning the
// modules to store (an empty list for full access, or for limited access
// without modules).
func checkAccess(access string, modules []string) ([]string, error) {
	if access != AccessFull && access != AccessLimited {
		return nil, ErrInvalidAccess
	}
	for _, m := range modules {
		if !slices.Contains(KnownModules, m) {
			return nil, fmt.Errorf("unknown module %q (known: %s)", m, strings.Join(KnownModules, ", "))
		}
	}
	if access == AccessFull {
		return []string{}, nil
	}
	modules = slices.Clone(modules)
	slices.Sort(modules)
	return append([]string{}, slices.Compact(modules)...), nil
}

func (s *Store) membershipIn(tx *gorm.DB, programID, adminID int64) (*Membership, *Admin, error) {
	var m Membership
	err := tx.Where("program_id = ? AND admin_id = ?", programID, adminID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, database.ErrNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	var a Admin
	if err := tx.Where("id = ?", adminID).Take(&a).Error; err != nil {
		return nil, nil, err
	}
	return &m, &a, nil
}

func otherFullAdmins(tx *gorm.DB, programID, adminID int64) (int64, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM memberships WHERE program_id = ? AND access = ? AND admin_id <> ?`, programID, AccessFull, adminID).Scan(&n).Error
	return n, err
}

// ChangeAccess sets an admin's access to a program. The last full-access
// admin keeps full access.
func (s *Store) ChangeAccess(ctx context.Context, actor audit.Actor, programID, adminID int64, access string, modules []string) error {
	modules, err := checkAccess(access, modules)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		m, a, err := s.membershipIn(tx, programID, adminID)
		if err != nil {
			return err
		}
		if m.Access == AccessFull && access != AccessFull {
			n, err := otherFullAdmins(tx, programID, adminID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastFullAdmin
			}
		}
		joined := strings.Join(modules, ",")
		if m.Access == access && m.Modules == joined {
			return nil
		}
		if err := tx.Exec(`UPDATE memberships SET access = ?, modules = ? WHERE id = ?`, access, joined, m.ID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminAccessChanged, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(a.ID), TargetName: a.Email,
			Details: map[string]any{
				"before": map[string]any{"access": m.Access, "modules": splitModules(m.Modules)},
				"after":  map[string]any{"access": access, "modules": modules},
			},
		})
	})
	if err != nil && !errors.Is(err, ErrLastFullAdmin) && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("accounts: unable to change access: %w", err)
	}
	return err
}

// RemoveAdmin takes an admin out of a program and ends their sessions in
// it, in one transaction with its audit event. The account and the keys it
// created stay.
func (s *Store) RemoveAdmin(ctx context.Context, actor audit.Actor, programID, adminID int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		m, a, err := s.membershipIn(tx, programID, adminID)
		if err != nil {
			return err
		}
		if m.Access == AccessFull {
			n, err := otherFullAdmins(tx, programID, adminID)
			if err != nil {
				return err
			}
			if n == 0 {
				return ErrLastFullAdmin
			}
		}
		ended, err := endMembership(tx, m)
		if err != nil {
			return err
		}
		if err := s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminRemoved, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(a.ID), TargetName: a.Email,
			Details: map[string]any{"access": m.Access, "modules": splitModules(m.Modules), "sessions_ended": ended},
		}); err != nil {
			return err
		}
		return s.notify(tx, programID, outbox.EventAdminRemoved, actor, map[string]any{"admin": map[string]any{
			"id": a.ID, "email": a.Email, "access": m.Access, "modules": splitModules(m.Modules)}})
	})
	if err != nil && !errors.Is(err, ErrLastFullAdmin) && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("accounts: unable to remove admin: %w", err)
	}
	return err
}

// endMembership deletes a membership with the admin's sessions and
// re-authentication grants in its program, so the admin's next request
// there finds no session. It returns how many sessions it ended.
func endMembership(tx *gorm.DB, m *Membership) (int64, error) {
	if err := tx.Exec(`DELETE FROM memberships WHERE id = ?`, m.ID).Error; err != nil {
		return 0, err
	}
	res := tx.Exec(`DELETE FROM sessions WHERE admin_id = ? AND program_id = ?`, m.AdminID, m.ProgramID)
	if res.Error != nil {
		return 0, res.Error
	}
	if err := tx.Exec(`DELETE FROM reauth_grants WHERE admin_id = ? AND program_id = ?`, m.AdminID, m.ProgramID).Error; err != nil {
		return 0, err
	}
	return res.RowsAffected, nil
}

// SetRequireTwoFactor turns the program's two-factor policy on or off.
func (s *Store) SetRequireTwoFactor(ctx context.Context, actor audit.Actor, programID int64, require bool) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE programs SET require_two_factor = ? WHERE id = ?`, require, programID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionTwoFactorPolicyChanged, TargetType: audit.TargetProgram, TargetID: fmt.Sprint(programID),
			Details: map[string]any{"require_two_factor": require},
		})
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to change the two-factor policy: %w", err)
	}
	return nil
}
