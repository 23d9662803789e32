package models

import (
	"errors"
	"fmt"
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

// Sign-in and re-authentication throttling.
const (
	throttleWindow         = 15 * time.Minute
	maxLoginFailuresEmail  = 5
	maxLoginFailuresIP     = 20
	maxReauthFailures      = 5
	reauthLockDuration     = 15 * time.Minute
	scopeLoginEmail        = "login_email"
	scopeLoginIP           = "login_ip"
	scopeReauth            = "reauth"
	minPasswordLength      = 12
	maxPasswordLength      = 256
	auditTargetTypeAdmin   = "admin"
	auditTargetTypeProgram = "program"
)

// passwordParams follow OWASP's argon2id recommendation (19 MiB, t=2, p=1).
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Errors of sign-in and re-authentication.
var (
	ErrInvalidCredentials = errors.New("invalid email or password")
	ErrThrottled          = errors.New("too many failed attempts")
	ErrWeakPassword       = fmt.Errorf("password must be %d to %d characters", minPasswordLength, maxPasswordLength)
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
}

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

// NormalizeEmail lowercases and trims an email address.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

func validEmail(email string) bool {
	at := strings.IndexByte(email, '@')
	return at > 0 && at < len(email)-1 && len(email) <= 254 && !strings.ContainsAny(email, " \t\r\n<>\"") && strings.Count(email, "@") == 1
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
func (s *Store) CreateAdmin(actor Actor, programID int64, email, password, access string, modules []string) (*Admin, error) {
	email = NormalizeEmail(email)
	if !validEmail(email) {
		return nil, ErrInvalidEmail
	}
	if len(password) < minPasswordLength || len(password) > maxPasswordLength {
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
	err = s.db.Transaction(func(tx *gorm.DB) error {
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
			if isUniqueViolation(err) {
				return ErrAdminExists
			}
			return err
		}
		return s.AppendAudit(tx, programID, actor, AuditEntry{
			Action: ActionAdminCreated, TargetType: auditTargetTypeAdmin, TargetID: fmt.Sprint(admin.ID), TargetName: email,
			Details: map[string]any{"access": access, "modules": modules},
		})
	})
	if err != nil {
		if errors.Is(err, ErrAdminExists) {
			return nil, err
		}
		return nil, fmt.Errorf("store: unable to create admin: %w", err)
	}
	return admin, nil
}

// AdminByID loads an admin.
func (s *Store) AdminByID(id int64) (*Admin, error) {
	var a Admin
	err := s.db.Where("id = ?", id).Take(&a).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to load admin: %w", err)
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
func (s *Store) Memberships(adminID int64) ([]MembershipWithProgram, error) {
	var rows []struct {
		Membership
		ProgramName      string
		ProgramPartnerID string
		ProgramCreatedAt time.Time
	}
	err := s.db.Raw(`SELECT m.*, p.name AS program_name, p.partner_id AS program_partner_id, p.created_at AS program_created_at
		FROM memberships m JOIN programs p ON p.id = m.program_id
		WHERE m.admin_id = ? ORDER BY m.program_id`, adminID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to list memberships: %w", err)
	}
	out := make([]MembershipWithProgram, len(rows))
	for i, r := range rows {
		out[i] = MembershipWithProgram{
			Membership: r.Membership,
			Program:    Program{ID: r.ProgramID, Name: r.ProgramName, PartnerID: r.ProgramPartnerID, CreatedAt: r.ProgramCreatedAt},
		}
	}
	return out, nil
}

// MembershipFor returns the admin's membership of one program.
func (s *Store) MembershipFor(adminID, programID int64) (*Membership, error) {
	var m Membership
	err := s.db.Where("admin_id = ? AND program_id = ?", adminID, programID).Take(&m).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to load membership: %w", err)
	}
	return &m, nil
}

func (s *Store) countFailures(tx *gorm.DB, scope, subject string, since time.Time) (int64, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM auth_failures WHERE scope = ? AND subject = ? AND created_at > ?`, scope, subject, since).Scan(&n).Error
	return n, err
}

func (s *Store) recordFailure(tx *gorm.DB, scope, subject string) error {
	return tx.Exec(`INSERT INTO auth_failures (scope, subject, created_at) VALUES (?, ?, ?)`, scope, subject, s.now()).Error
}

// Authenticate checks an email and password for sign-in. Failures are
// counted per account and per IP; past the limits every attempt is refused
// with ErrThrottled, whether or not the password is right. The error never
// says whether the email exists.
func (s *Store) Authenticate(email, password string, actor Actor) (*Admin, error) {
	email = NormalizeEmail(email)
	since := s.now().Add(-throttleWindow)
	byEmail, err := s.countFailures(s.db, scopeLoginEmail, email, since)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read sign-in failures: %w", err)
	}
	byIP, err := s.countFailures(s.db, scopeLoginIP, actor.IP, since)
	if err != nil {
		return nil, fmt.Errorf("store: unable to read sign-in failures: %w", err)
	}
	var admin Admin
	lookupErr := s.db.Where("email = ?", email).Take(&admin).Error
	known := lookupErr == nil
	if lookupErr != nil && !errors.Is(lookupErr, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("store: unable to look up admin: %w", lookupErr)
	}
	hash := dummyHash
	if known {
		hash = admin.PasswordHash
	}
	match, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return nil, fmt.Errorf("store: unable to compare password: %w", err)
	}
	throttled := byEmail >= maxLoginFailuresEmail || byIP >= maxLoginFailuresIP
	if known && match && !throttled {
		return &admin, nil
	}
	reason := "wrong email or password"
	if throttled {
		reason = "throttled"
	}
	actor.Email = email
	entry := AuditEntry{Action: ActionSignInFailed, Outcome: OutcomeFailure, TargetType: auditTargetTypeAdmin, TargetName: email, Details: map[string]any{"reason": reason}}
	err = s.db.Transaction(func(tx *gorm.DB) error {
		if err := s.recordFailure(tx, scopeLoginEmail, email); err != nil {
			return err
		}
		if err := s.recordFailure(tx, scopeLoginIP, actor.IP); err != nil {
			return err
		}
		if !known {
			return s.AppendAudit(tx, SystemProgramID, actor, entry)
		}
		actor.AdminID = admin.ID
		entry.TargetID = fmt.Sprint(admin.ID)
		var programIDs []int64
		if err := tx.Raw(`SELECT program_id FROM memberships WHERE admin_id = ? ORDER BY program_id`, admin.ID).Scan(&programIDs).Error; err != nil {
			return err
		}
		if len(programIDs) == 0 {
			programIDs = []int64{SystemProgramID}
		}
		for _, pid := range programIDs {
			if err := s.AppendAudit(tx, pid, actor, entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: unable to record sign-in failure: %w", err)
	}
	if throttled {
		return nil, ErrThrottled
	}
	return nil, ErrInvalidCredentials
}

// ReauthLockedError says until when re-authentication is locked.
type ReauthLockedError struct{ Until time.Time }

func (e *ReauthLockedError) Error() string {
	return "re-authentication is locked until " + e.Until.Format(time.RFC3339)
}

// WrongPasswordError says how many attempts remain before the lock.
type WrongPasswordError struct{ Remaining int }

func (e *WrongPasswordError) Error() string {
	return fmt.Sprintf("wrong password (%d attempts left)", e.Remaining)
}

// Reauthenticate checks an admin's password again before a secret is shown.
// Five failures within 15 minutes lock re-authentication for 15 minutes.
// Success, failure and lock are each audited.
func (s *Store) Reauthenticate(programID int64, actor Actor, password string) error {
	admin, err := s.AdminByID(actor.AdminID)
	if err != nil {
		return err
	}
	now := s.now()
	if admin.ReauthLockedUntil != nil && admin.ReauthLockedUntil.After(now) {
		until := *admin.ReauthLockedUntil
		err := s.Audit(programID, actor, AuditEntry{Action: ActionReauthFailed, Outcome: OutcomeRefused, TargetType: auditTargetTypeAdmin, TargetID: fmt.Sprint(admin.ID), TargetName: admin.Email, Details: map[string]any{"reason": "locked"}})
		if err != nil {
			return err
		}
		return &ReauthLockedError{Until: until}
	}
	match, err := argon2id.ComparePasswordAndHash(password, admin.PasswordHash)
	if err != nil {
		return fmt.Errorf("store: unable to compare password: %w", err)
	}
	subject := fmt.Sprint(admin.ID)
	target := AuditEntry{TargetType: auditTargetTypeAdmin, TargetID: subject, TargetName: admin.Email}
	if match {
		return s.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`DELETE FROM auth_failures WHERE scope = ? AND subject = ?`, scopeReauth, subject).Error; err != nil {
				return err
			}
			target.Action = ActionReauthSucceeded
			return s.AppendAudit(tx, programID, actor, target)
		})
	}
	var result error
	err = s.db.Transaction(func(tx *gorm.DB) error {
		if err := s.recordFailure(tx, scopeReauth, subject); err != nil {
			return err
		}
		failures, err := s.countFailures(tx, scopeReauth, subject, now.Add(-throttleWindow))
		if err != nil {
			return err
		}
		target.Action, target.Outcome = ActionReauthFailed, OutcomeFailure
		target.Details = map[string]any{"failures": failures}
		if err := s.AppendAudit(tx, programID, actor, target); err != nil {
			return err
		}
		if failures < maxReauthFailures {
			result = &WrongPasswordError{Remaining: int(maxReauthFailures - failures)}
			return nil
		}
		until := now.Add(reauthLockDuration)
		if err := tx.Exec(`UPDATE admins SET reauth_locked_until = ? WHERE id = ?`, until, admin.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM auth_failures WHERE scope = ? AND subject = ?`, scopeReauth, subject).Error; err != nil {
			return err
		}
		target.Action, target.Outcome = ActionReauthLocked, OutcomeRefused
		target.Details = map[string]any{"locked_until": until.Format(time.RFC3339)}
		if err := s.AppendAudit(tx, programID, actor, target); err != nil {
			return err
		}
		result = &ReauthLockedError{Until: until}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: unable to record re-authentication failure: %w", err)
	}
	return result
}
