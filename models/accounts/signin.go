package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/input"
)

// Sign-in and re-authentication throttling.
const (
	throttleWindow        = 15 * time.Minute
	maxLoginFailuresEmail = 5
	maxLoginFailuresIP    = 20
	maxReauthFailures     = 5
	reauthLockDuration    = 15 * time.Minute
	scopeLoginEmail       = "login_email"
	scopeLoginIP          = "login_ip"
	scopeReauth           = "reauth"
)

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
func (s *Store) Authenticate(ctx context.Context, email, password string, actor audit.Actor) (*Admin, error) {
	db := s.db.WithContext(ctx)
	email = input.NormalizeEmail(email)
	since := s.now().Add(-throttleWindow)
	byEmail, err := s.countFailures(db, scopeLoginEmail, email, since)
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to read sign-in failures: %w", err)
	}
	byIP, err := s.countFailures(db, scopeLoginIP, actor.IP, since)
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to read sign-in failures: %w", err)
	}
	var admin Admin
	lookupErr := db.Where("email = ?", email).Take(&admin).Error
	known := lookupErr == nil
	if lookupErr != nil && !errors.Is(lookupErr, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("accounts: unable to look up admin: %w", lookupErr)
	}
	hash := dummyHash
	if known {
		hash = admin.PasswordHash
	}
	match, err := argon2id.ComparePasswordAndHash(password, hash)
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to compare password: %w", err)
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
	entry := audit.Entry{Action: audit.ActionSignInFailed, Outcome: audit.OutcomeFailure, TargetType: audit.TargetAdmin, TargetName: email, Details: map[string]any{"reason": reason}}
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := s.recordFailure(tx, scopeLoginEmail, email); err != nil {
			return err
		}
		if err := s.recordFailure(tx, scopeLoginIP, actor.IP); err != nil {
			return err
		}
		if !known {
			return s.audit.Append(tx, audit.SystemProgramID, actor, entry)
		}
		actor.AdminID = admin.ID
		entry.TargetID = fmt.Sprint(admin.ID)
		var programIDs []int64
		if err := tx.Raw(`SELECT program_id FROM memberships WHERE admin_id = ? ORDER BY program_id`, admin.ID).Scan(&programIDs).Error; err != nil {
			return err
		}
		if len(programIDs) == 0 {
			programIDs = []int64{audit.SystemProgramID}
		}
		for _, pid := range programIDs {
			if err := s.audit.Append(tx, pid, actor, entry); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to record sign-in failure: %w", err)
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
func (s *Store) Reauthenticate(ctx context.Context, programID int64, actor audit.Actor, password string) error {
	db := s.db.WithContext(ctx)
	admin, err := s.AdminByID(ctx, actor.AdminID)
	if err != nil {
		return err
	}
	now := s.now()
	if admin.ReauthLockedUntil != nil && admin.ReauthLockedUntil.After(now) {
		until := *admin.ReauthLockedUntil
		err := s.audit.Record(ctx, programID, actor, audit.Entry{Action: audit.ActionReauthFailed, Outcome: audit.OutcomeRefused, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(admin.ID), TargetName: admin.Email, Details: map[string]any{"reason": "locked"}})
		if err != nil {
			return err
		}
		return &ReauthLockedError{Until: until}
	}
	match, err := argon2id.ComparePasswordAndHash(password, admin.PasswordHash)
	if err != nil {
		return fmt.Errorf("accounts: unable to compare password: %w", err)
	}
	subject := fmt.Sprint(admin.ID)
	target := audit.Entry{TargetType: audit.TargetAdmin, TargetID: subject, TargetName: admin.Email}
	if match {
		return db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`DELETE FROM auth_failures WHERE scope = ? AND subject = ?`, scopeReauth, subject).Error; err != nil {
				return err
			}
			target.Action = audit.ActionReauthSucceeded
			return s.audit.Append(tx, programID, actor, target)
		})
	}
	var result error
	err = db.Transaction(func(tx *gorm.DB) error {
		if err := s.recordFailure(tx, scopeReauth, subject); err != nil {
			return err
		}
		failures, err := s.countFailures(tx, scopeReauth, subject, now.Add(-throttleWindow))
		if err != nil {
			return err
		}
		target.Action, target.Outcome = audit.ActionReauthFailed, audit.OutcomeFailure
		target.Details = map[string]any{"failures": failures}
		if err := s.audit.Append(tx, programID, actor, target); err != nil {
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
		target.Action, target.Outcome = audit.ActionReauthLocked, audit.OutcomeRefused
		target.Details = map[string]any{"locked_until": until.Format(time.RFC3339)}
		if err := s.audit.Append(tx, programID, actor, target); err != nil {
			return err
		}
		result = &ReauthLockedError{Until: until}
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to record re-authentication failure: %w", err)
	}
	return result
}
