package accounts

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
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

// Errors of the team's management.
var (
	ErrLastFullAdmin     = errors.New("the program's last full-access admin can be neither removed nor given limited access")
	ErrInvitationInvalid = errors.New("this invitation link is not valid: it was used, revoked or has expired")
	ErrInvalidAccess     = fmt.Errorf("access must be %q or %q", AccessFull, AccessLimited)
	ErrAlreadyHasAccount = errors.New("an account with this email exists: sign in with its password to join")
	ErrTooManyPending    = fmt.Errorf("the program has %d pending invitations, the most allowed: revoke one or wait until they are used or expire", MaxPendingInvitations)
	ErrInvitationRate    = fmt.Errorf("%d invitations were sent in the last minute, the most allowed: wait a minute and try again", MaxInvitationsPerMinute)
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
		if err := tx.Exec(`DELETE FROM memberships WHERE id = ?`, m.ID).Error; err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM sessions WHERE admin_id = ? AND program_id = ?`, adminID, programID)
		if res.Error != nil {
			return res.Error
		}
		if err := tx.Exec(`DELETE FROM reauth_grants WHERE admin_id = ? AND program_id = ?`, adminID, programID).Error; err != nil {
			return err
		}
		if err := s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminRemoved, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(a.ID), TargetName: a.Email,
			Details: map[string]any{"access": m.Access, "modules": splitModules(m.Modules), "sessions_ended": res.RowsAffected},
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

// RecordSignIn notes when an admin last signed in.
func (s *Store) RecordSignIn(ctx context.Context, adminID int64) error {
	if err := s.db.WithContext(ctx).Exec(`UPDATE admins SET last_sign_in_at = ? WHERE id = ?`, s.now(), adminID).Error; err != nil {
		return fmt.Errorf("accounts: unable to record the sign-in: %w", err)
	}
	return nil
}

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
