package accounts

import (
	"context"
	"errors"
	"fmt"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"slices"
	"strings"
	"time"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"
)

// Access levels of a membership.
const (
	AccessFull    = "full"
	AccessLimited = "limited"
)

// ModuleAuditTrail grants a limited admin the audit trail.
const ModuleAuditTrail = "audit_trail"

// KnownModules are the modules a limited admin can be granted.
var KnownModules = []string{ModuleAuditTrail}

// Password rules and audit target of admins.
const (
	MinPasswordLength = 12
	MaxPasswordLength = 256
)

// passwordParams follow OWASP's argon2id recommendation (19 MiB, t=2, p=1).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Errors of sign-in and re-authentication.
var (
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrThrottled          = errors.New("too many failed attempts")
	ErrWeakPassword       = fmt.Errorf("password must be %d to %d characters", MinPasswordLength, MaxPasswordLength)
	ErrInvalidEmail       = errors.New("email address is not valid")
	ErrAdminExists        = errors.New("an admin with this email is already a member of this program")
)

// Admin is a person who signs in to the console.
type Admin struct {
	ID                int64
	Email             string
	PasswordHash      string
	ReauthLockedUntil *time.Time
	CreatedAt         time.Time
	LastSignInAt      *time.Time
	// TOTPSecret is the authenticator app's shared secret (base32), empty
	// until one is confirmed; TOTPLastStep the last time step accepted.
	TOTPSecret   string `gorm:"column:totp_secret"`
	TOTPLastStep int64  `gorm:"column:totp_last_step"`
	// PasskeyCount is how many passkeys the admin added; any of them
	// signs the admin in by itself (user verification is required).
	// The column admins.passkey_only, the switch that once had to allow
	// that, is left in place and no longer read or written.
	PasskeyCount int64 `gorm:"column:passkey_count"`
}

// HasPasskey reports whether the admin added a passkey.
func (a Admin) HasPasskey() bool { return a.PasskeyCount > 0 }

// HasSecondFactor reports whether the admin has an authenticator app or a
// passkey, either of which counts as the second factor.
func (a Admin) HasSecondFactor() bool { return a.HasTOTP() || a.HasPasskey() }

// HasTOTP reports whether the admin set up an authenticator app.
func (a Admin) HasTOTP() bool { return a.TOTPSecret != "" }

// Membership grants an admin access to a program.
type Membership struct {
	ID        int64
	ProgramID int64
	AdminID   int64
	Access    string
	Modules   string
	CreatedAt time.Time
}

// HasModule reports whether the membership grants module.
func (m Membership) HasModule(module string) bool {
	if m.Access == AccessFull {
		return true
	}
	return slices.Contains(strings.Split(m.Modules, ","), module)
}

// IsFull reports full access.
func (m Membership) IsFull() bool { return m.Access == AccessFull }

func validEmail(email string) bool {
	at := strings.IndexByte(email, '@')
	return at > 0 && at < len(email)-1 && len(email) <= MaxEmailLength && !strings.ContainsAny(email, " \t\r\n<>\"") && strings.Count(email, "@") == 1
}

// dummyHash is compared against when the email is unknown, so sign-in takes
// the same time whether or not an account exists.
var dummyHash = func() string {
	h, err := argon2id.CreateHash("keydesk dummy password for timing", passwordParams)
	if err != nil {
		panic(err)
	}
	return h
}()

// CreateAdmin adds an admin (or reuses the existing account of that email)
// to a program with the given access.
func (s *Store) CreateAdmin(ctx context.Context, actor audit.Actor, programID int64, email, password, access string, modules []string) (*Admin, error) {
	email = input.NormalizeEmail(email)
	if !validEmail(email) {
		return nil, ErrInvalidEmail
	}
	if len(password) < MinPasswordLength || len(password) > MaxPasswordLength {
		return nil, ErrWeakPassword
	}
	if access != AccessFull && access != AccessLimited {
		return nil, fmt.Errorf("access must be %q or %q", AccessFull, AccessLimited)
	}
	for _, m := range modules {
		if !slices.Contains(KnownModules, m) {
			return nil, fmt.Errorf("unknown module %q (known: %s)", m, strings.Join(KnownModules, ", "))
		}
	}
	if access == AccessFull {
		modules = nil
	}
	hash, err := argon2id.CreateHash(password, passwordParams)
	if err != nil {
		return nil, err
	}
	admin := &Admin{}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		err := tx.Where("email = ?", email).Take(admin).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			*admin = Admin{Email: email, PasswordHash: hash, CreatedAt: s.now()}
			if err := tx.Create(admin).Error; err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		m := Membership{ProgramID: programID, AdminID: admin.ID, Access: access, Modules: strings.Join(modules, ","), CreatedAt: s.now()}
		if err := tx.Create(&m).Error; err != nil {
			if database.IsUniqueViolation(err) {
				return ErrAdminExists
			}
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{
			Action: audit.ActionAdminCreated, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(admin.ID), TargetName: email,
			Details: map[string]any{"access": access, "modules": modules},
		})
	})
	if err != nil {
		if errors.Is(err, ErrAdminExists) {
			return nil, err
		}
		return nil, fmt.Errorf("accounts: unable to create admin: %w", err)
	}
	return admin, nil
}

// AdminByID loads an admin.
func (s *Store) AdminByID(ctx context.Context, id int64) (*Admin, error) {
	var a Admin
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to load admin: %w", err)
	}
	return &a, nil
}

// MembershipWithProgram is a membership joined with its program.
type MembershipWithProgram struct {
	Membership Membership
	Program    Program
}

// Memberships lists the programs an admin belongs to, oldest first, in one
// query (it runs on every console request).
func (s *Store) Memberships(ctx context.Context, adminID int64) ([]MembershipWithProgram, error) {
	var rows []struct {
		Membership
		ProgramName      string
		ProgramPartnerID string
		ProgramCreatedAt time.Time

		ProgramRequireTwoFactor bool
		SSORequire              *bool
		SSOBreakGlassAdminID    *int64
	}
	err := s.db.WithContext(ctx).Raw(`SELECT m.*, p.name AS program_name, p.partner_id AS program_partner_id, p.created_at AS program_created_at, p.require_two_factor AS program_require_two_factor,
		s.require_sso AS sso_require, s.break_glass_admin_id AS sso_break_glass_admin_id
		FROM memberships m JOIN programs p ON p.id = m.program_id LEFT JOIN single_sign_on s ON s.program_id = m.program_id
		WHERE m.admin_id = ? ORDER BY m.program_id`, adminID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to list memberships: %w", err)
	}
	out := make([]MembershipWithProgram, len(rows))
	for i, r := range rows {
		out[i] = MembershipWithProgram{
			Membership: r.Membership,
			Program:    Program{ID: r.ProgramID, Name: r.ProgramName, PartnerID: r.ProgramPartnerID, CreatedAt: r.ProgramCreatedAt, RequireTwoFactor: r.ProgramRequireTwoFactor},
		}
		if r.SSORequire != nil && *r.SSORequire && r.SSOBreakGlassAdminID != nil {
			out[i].Program.RequireSSO, out[i].Program.SSOBreakGlassAdminID = true, *r.SSOBreakGlassAdminID
		}
	}
	return out, nil
}

// MembershipFor returns the admin's membership of one program.
func (s *Store) MembershipFor(ctx context.Context, adminID, programID int64) (*Membership, error) {
	var m Membership
	err := s.db.WithContext(ctx).Where("admin_id = ? AND program_id = ?", adminID, programID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to load membership: %w", err)
	}
	return &m, nil
}
