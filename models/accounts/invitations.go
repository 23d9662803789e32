package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/outbox"
)

// InvitationLifetime is how long an invitation link works.
const InvitationLifetime = 72 * time.Hour

// Caps on invitations, each of which is mailed from the organisation's
// sender: at most MaxPendingInvitations of a program wait to be used, and
// at most MaxInvitationsPerMinute are sent in any minute (revoked ones
// count, so revoking does not make room for a flood).
const (
	MaxPendingInvitations   = 20
	MaxInvitationsPerMinute = 10
)

// Errors of an invitation.
var (
	ErrInvitationInvalid = errors.New("this invitation link is not valid: it was used, revoked or has expired")
	ErrTooManyPending    = fmt.Errorf("the program has %d pending invitations, the most allowed: revoke one or wait until they are used or expire", MaxPendingInvitations)
	ErrInvitationRate    = fmt.Errorf("%d invitations were sent in the last minute, the most allowed: wait a minute and try again", MaxInvitationsPerMinute)
)

// Invitation is a pending invitation to join a program.
type Invitation struct {
	ID         int64
	ProgramID  int64
	Email      string
	Access     string
	Modules    string
	Digest     string
	InvitedBy  int64
	ExpiresAt  time.Time
	AcceptedAt *time.Time
	RevokedAt  *time.Time
	CreatedAt  time.Time
}

// ModuleList is the invitation's modules.
func (i Invitation) ModuleList() []string { return splitModules(i.Modules) }

// Invite creates a one-time invitation to a program and returns it with its
// token (for the link; the table keeps only its digest). The caps
// (MaxPendingInvitations, MaxInvitationsPerMinute) are counted under the
// program's row lock, so simultaneous invitations never pass them; a
// refused attempt is audited and answers ErrTooManyPending or
// ErrInvitationRate.
func (s *Store) Invite(ctx context.Context, actor audit.Actor, programID int64, email, access string, modules []string) (*Invitation, string, error) {
	email = input.NormalizeEmail(email)
	if !validEmail(email) {
		return nil, "", ErrInvalidEmail
	}
	modules, err := checkAccess(access, modules)
	if err != nil {
		return nil, "", err
	}
	token := rand.Text() + rand.Text()
	now := s.now()
	inv := &Invitation{ProgramID: programID, Email: email, Access: access, Modules: strings.Join(modules, ","),
		Digest: grantDigest(token), InvitedBy: actor.AdminID, ExpiresAt: now.Add(InvitationLifetime), CreatedAt: now}
	var refused error
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM memberships m JOIN admins a ON a.id = m.admin_id WHERE m.program_id = ? AND a.email = ?`, programID, email).Scan(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return ErrAdminExists
		}
		reason, err := invitationCapReached(tx, programID, now)
		if err != nil {
			return err
		}
		if reason != "" {
			refused = ErrInvitationRate
			if reason == "pending" {
				refused = ErrTooManyPending
			}
			return s.audit.Append(tx, programID, actor, audit.Entry{
				Action: audit.ActionAdminInvited, Outcome: audit.OutcomeRefused, TargetType: audit.TargetInvitation, TargetName: email,
				Details: map[string]any{"reason": reason, "pending_limit": MaxPendingInvitations, "per_minute_limit": MaxInvitationsPerMinute},
			})
		}
		if err := tx.Create(inv).Error; err != nil {
			return err
		}
		if err := s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminInvited, TargetType: audit.TargetInvitation, TargetID: fmt.Sprint(inv.ID), TargetName: email,
			Details: map[string]any{"access": access, "modules": modules, "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)},
		}); err != nil {
			return err
		}
		data := map[string]any{"invitation": map[string]any{
			"id": inv.ID, "email": email, "access": access, "modules": modules, "expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)}}
		if err := s.notify(tx, programID, outbox.EventAdminInvited, actor, data); err != nil {
			return err
		}
		if s.outbox == nil {
			return nil
		}
		data["actor"] = map[string]any{"id": actor.AdminID, "email": actor.Email}
		return s.outbox.EnqueueInvitationMail(tx, programID, email, token, data)
	})
	if errors.Is(err, ErrAdminExists) {
		return nil, "", err
	}
	if err != nil {
		return nil, "", fmt.Errorf("accounts: unable to invite: %w", err)
	}
	if refused != nil {
		return nil, "", refused
	}
	return inv, token, nil
}

// invitationCapReached says which cap a new invitation of the program
// would pass at now: "pending", "rate", or "" for none. The caller holds
// the program's lock.
func invitationCapReached(tx *gorm.DB, programID int64, now time.Time) (string, error) {
	var pending, lastMinute int64
	if err := tx.Raw(`SELECT COUNT(*) FROM invitations WHERE program_id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`,
		programID, now).Scan(&pending).Error; err != nil {
		return "", err
	}
	if pending >= MaxPendingInvitations {
		return "pending", nil
	}
	if err := tx.Raw(`SELECT COUNT(*) FROM invitations WHERE program_id = ? AND created_at > ?`, programID, now.Add(-time.Minute)).Scan(&lastMinute).Error; err != nil {
		return "", err
	}
	if lastMinute >= MaxInvitationsPerMinute {
		return "rate", nil
	}
	return "", nil
}

// PendingInvitations lists a program's invitations not yet used, revoked
// or expired.
func (s *Store) PendingInvitations(ctx context.Context, programID int64) ([]Invitation, error) {
	var out []Invitation
	err := s.db.WithContext(ctx).Where("program_id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", programID, s.now()).
		Order("created_at DESC, id DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to list invitations: %w", err)
	}
	return out, nil
}

// RevokeInvitation cancels a pending invitation of the program; another
// program's invitation is ErrNotFound.
func (s *Store) RevokeInvitation(ctx context.Context, actor audit.Actor, programID, id int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var inv Invitation
		err := tx.Where("id = ? AND program_id = ? AND accepted_at IS NULL AND revoked_at IS NULL", id, programID).Take(&inv).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return database.ErrNotFound
		}
		if err != nil {
			return err
		}
		res := tx.Exec(`UPDATE invitations SET revoked_at = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL`, s.now(), id)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return database.ErrNotFound
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminInvitationRevoked, TargetType: audit.TargetInvitation, TargetID: fmt.Sprint(inv.ID), TargetName: inv.Email,
		})
	})
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		return fmt.Errorf("accounts: unable to revoke the invitation: %w", err)
	}
	return err
}

// InvitationByToken finds the usable invitation a link carries, with
// whether its email already has an account.
func (s *Store) InvitationByToken(ctx context.Context, token string) (*Invitation, *Program, bool, error) {
	if token == "" || len(token) > 128 {
		return nil, nil, false, ErrInvitationInvalid
	}
	db := s.db.WithContext(ctx)
	var inv Invitation
	err := db.Where("digest = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", grantDigest(token), s.now()).Take(&inv).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, false, ErrInvitationInvalid
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("accounts: unable to load the invitation: %w", err)
	}
	p, err := s.ProgramByID(ctx, inv.ProgramID)
	if err != nil {
		return nil, nil, false, err
	}
	var n int64
	if err := db.Raw(`SELECT COUNT(*) FROM admins WHERE email = ?`, inv.Email).Scan(&n).Error; err != nil {
		return nil, nil, false, fmt.Errorf("accounts: unable to look up the invited account: %w", err)
	}
	return &inv, p, n > 0, nil
}

// AcceptInvitation spends an invitation: a new account is created with the
// password given; an existing account (the password is then checked with
// the sign-in throttles) joins the program with the invited access. Of
// simultaneous uses of one link exactly one succeeds.
func (s *Store) AcceptInvitation(ctx context.Context, actor audit.Actor, token, password string) (*Admin, *Program, error) {
	inv, program, existing, err := s.InvitationByToken(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	var admin *Admin
	hash := ""
	if existing {
		admin, err = s.Authenticate(ctx, inv.Email, password, actor)
		if err != nil {
			return nil, nil, err
		}
	} else {
		if len(password) < MinPasswordLength || len(password) > MaxPasswordLength {
			return nil, nil, ErrWeakPassword
		}
		if hash, err = argon2id.CreateHash(password, passwordParams); err != nil {
			return nil, nil, err
		}
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		now := s.now()
		res := tx.Exec(`UPDATE invitations SET accepted_at = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?`, now, inv.ID, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrInvitationInvalid
		}
		if admin == nil {
			admin = &Admin{Email: inv.Email, PasswordHash: hash, CreatedAt: now}
			if err := tx.Create(admin).Error; err != nil {
				if database.IsUniqueViolation(err) {
					return ErrInvitationInvalid
				}
				return err
			}
		}
		m := Membership{ProgramID: inv.ProgramID, AdminID: admin.ID, Access: inv.Access, Modules: inv.Modules, CreatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			if database.IsUniqueViolation(err) {
				return ErrAdminExists
			}
			return err
		}
		actor.AdminID, actor.Email = admin.ID, admin.Email
		return s.audit.Append(tx, inv.ProgramID, actor, audit.Entry{
			Action: audit.ActionAdminInvitationAccepted, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(admin.ID), TargetName: admin.Email,
			Details: map[string]any{"invitation_id": inv.ID, "access": inv.Access, "modules": inv.ModuleList(), "new_account": !existing},
		})
	})
	if errors.Is(err, ErrInvitationInvalid) || errors.Is(err, ErrAdminExists) {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: unable to accept the invitation: %w", err)
	}
	return admin, program, nil
}
