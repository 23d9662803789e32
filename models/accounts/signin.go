package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/argon2id"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// Sign-in and re-authentication throttling (OWASP ASVS 5.0 V6.3.1, the
// Authentication Cheat Sheet's "account lockout"). Sign-in is throttled per
// account and address first, so a stranger cannot lock the owner out from
// elsewhere; a higher account-wide limit holds across addresses, and a
// per-address limit across accounts.
const (
	throttleWindow            = 15 * time.Minute
	maxLoginFailuresAccountIP = 5
	maxLoginFailuresEmail     = 20
	maxLoginFailuresIP        = 20
	maxReauthFailures         = 5
	reauthLockDuration        = 15 * time.Minute
	scopeLoginAccountIP       = "login_account_ip"
	scopeLoginEmail           = "login_email"
	scopeLoginIP              = "login_ip"
	scopeReauth               = "reauth"
)

// signInLimits are checked in this order; the first one reached names the
// limit in the audit trail. Locks are taken in the same order, so two
// sign-ins never wait on each other in a cycle.
var signInLimits = []struct {
	scope, name string
	max         int64
}{
	{scopeLoginAccountIP, "account_ip", maxLoginFailuresAccountIP},
	{scopeLoginEmail, "account", maxLoginFailuresEmail},
	{scopeLoginIP, "ip", maxLoginFailuresIP},
}

// authFailure is one attempt in the auth_failures table. An attempt is
// written before its password is checked (a reservation) and stays as a
// failure unless the password was right.
type authFailure struct {
	ID        int64
	Scope     string
	Subject   string
	CreatedAt time.Time
}

func (authFailure) TableName() string { return "auth_failures" }

func (s *Store) countFailures(tx *gorm.DB, scope, subject string, since time.Time) (int64, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM auth_failures WHERE scope = ? AND subject = ? AND created_at > ?`, scope, subject, since).Scan(&n).Error
	return n, err
}

// lockSubject serialises the attempts on one throttle subject until the
// transaction ends. SQLite's immediate transactions already hold the
// database's write lock; PostgreSQL takes a transaction-level advisory lock
// on the subject, which needs no row to exist (unknown emails, addresses).
func lockSubject(tx *gorm.DB, scope, subject string) error {
	if !database.IsPostgres(tx) {
		return nil
	}
	return tx.Exec(`SELECT pg_advisory_xact_lock(hashtextextended(?, 7341011))`, scope+":"+subject).Error
}

// reserveSignIn counts the failures of every sign-in limit and, when none is
// reached, records this attempt against each, in one transaction under the
// subjects' locks: simultaneous attempts never evaluate more passwords than
// the limits allow. It returns the reserved rows, or the name of the limit
// that refused the attempt.
func (s *Store) reserveSignIn(db *gorm.DB, subjects [3]string) (ids []int64, limit string, err error) {
	err = db.Transaction(func(tx *gorm.DB) error {
		since := s.now().Add(-throttleWindow)
		for i, l := range signInLimits {
			if err := lockSubject(tx, l.scope, subjects[i]); err != nil {
				return err
			}
		}
		for i, l := range signInLimits {
			n, err := s.countFailures(tx, l.scope, subjects[i], since)
			if err != nil {
				return err
			}
			if n >= l.max {
				limit = l.name
				return nil
			}
		}
		for i, l := range signInLimits {
			row := authFailure{Scope: l.scope, Subject: subjects[i], CreatedAt: s.now()}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			ids = append(ids, row.ID)
		}
		return nil
	})
	return ids, limit, err
}

// comparePassword is argon2id's comparison; tests count its calls.
var comparePassword = argon2id.ComparePasswordAndHash

// Authenticate checks an email and password for sign-in. Each attempt is
// reserved against the throttles before its password is checked; past a
// limit every attempt is refused with ErrThrottled, whether or not the
// password is right, and without counting further. The error never says
// whether the email exists.
func (s *Store) Authenticate(ctx context.Context, email, password string, actor audit.Actor) (*Admin, error) {
	db := s.db.WithContext(ctx)
	email = input.NormalizeEmail(email)
	var admin Admin
	lookupErr := db.Where("email = ?", email).Take(&admin).Error
	known := lookupErr == nil
	if lookupErr != nil && !errors.Is(lookupErr, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("accounts: unable to look up admin: %w", lookupErr)
	}
	reserved, limit, err := s.reserveSignIn(db, [3]string{email + " " + actor.IP, email, actor.IP})
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to reserve a sign-in attempt: %w", err)
	}
	details := map[string]any{"reason": "throttled", "limit": limit}
	if limit == "" {
		hash := dummyHash
		if known {
			hash = admin.PasswordHash
		}
		match, err := comparePassword(password, hash)
		if err != nil {
			return nil, fmt.Errorf("accounts: unable to compare password: %w", err)
		}
		if known && match {
			// A right password is no failure: its reservation goes, the
			// failures before it stay.
			if err := db.Exec(`DELETE FROM auth_failures WHERE id IN ?`, reserved).Error; err != nil {
				return nil, fmt.Errorf("accounts: unable to release a sign-in attempt: %w", err)
			}
			return &admin, nil
		}
		details = map[string]any{"reason": "wrong email or password"}
	}
	actor.Email = email
	entry := audit.Entry{Action: audit.ActionSignInFailed, Outcome: audit.OutcomeFailure, TargetType: audit.TargetAdmin, TargetName: email, Details: details}
	err = db.Transaction(func(tx *gorm.DB) error {
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
	if limit != "" {
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
// Each attempt is reserved under a lock on the admin before its password is
// checked, so simultaneous attempts never evaluate more than five passwords;
// a right password neither erases earlier failures nor counts once the lock
// is written. Success, failure and lock are each audited.
func (s *Store) Reauthenticate(ctx context.Context, programID int64, actor audit.Actor, password string) error {
	db := s.db.WithContext(ctx)
	admin, err := s.AdminByID(ctx, actor.AdminID)
	if err != nil {
		return err
	}
	subject := fmt.Sprint(admin.ID)
	target := audit.Entry{TargetType: audit.TargetAdmin, TargetID: subject, TargetName: admin.Email}
	refuse := func(until time.Time, reason string) error {
		entry := target
		entry.Action, entry.Outcome = audit.ActionReauthFailed, audit.OutcomeRefused
		entry.Details = map[string]any{"reason": reason}
		if err := s.audit.Record(ctx, programID, actor, entry); err != nil {
			return err
		}
		return &ReauthLockedError{Until: until}
	}

	var reserved authFailure
	var lockedUntil time.Time
	var reason string
	err = db.Transaction(func(tx *gorm.DB) error {
		until, err := s.lockAdminForReauth(tx, admin.ID)
		if err != nil {
			return err
		}
		now := s.now()
		if until.After(now) {
			lockedUntil, reason = until, "locked"
			return nil
		}
		n, err := s.countFailures(tx, scopeReauth, subject, now.Add(-throttleWindow))
		if err != nil {
			return err
		}
		if n >= maxReauthFailures {
			// Five attempts are still being checked: refuse as the lock
			// they are about to write would.
			lockedUntil, reason = now.Add(reauthLockDuration), "throttled"
			return nil
		}
		reserved = authFailure{Scope: scopeReauth, Subject: subject, CreatedAt: now}
		return tx.Create(&reserved).Error
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to reserve a re-authentication attempt: %w", err)
	}
	if reason != "" {
		return refuse(lockedUntil, reason)
	}

	match, err := argon2id.ComparePasswordAndHash(password, admin.PasswordHash)
	if err != nil {
		return fmt.Errorf("accounts: unable to compare password: %w", err)
	}
	var result error
	err = db.Transaction(func(tx *gorm.DB) error {
		until, err := s.lockAdminForReauth(tx, admin.ID)
		if err != nil {
			return err
		}
		now := s.now()
		if match {
			if err := tx.Exec(`DELETE FROM auth_failures WHERE id = ?`, reserved.ID).Error; err != nil {
				return err
			}
			if until.After(now) {
				// A simultaneous attempt wrote the lock while this one
				// was being checked: the lock wins.
				lockedUntil, reason = until, "locked"
				return nil
			}
			target.Action = audit.ActionReauthSucceeded
			return s.audit.Append(tx, programID, actor, target)
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
		if until.After(now) {
			result = &ReauthLockedError{Until: until}
			return nil
		}
		if failures < maxReauthFailures {
			result = &WrongPasswordError{Remaining: int(maxReauthFailures - failures)}
			return nil
		}
		until = now.Add(reauthLockDuration)
		if err := tx.Exec(`UPDATE admins SET reauth_locked_until = ? WHERE id = ?`, until, admin.ID).Error; err != nil {
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
		return fmt.Errorf("accounts: unable to record re-authentication: %w", err)
	}
	if reason != "" {
		return refuse(lockedUntil, reason)
	}
	return result
}

// lockAdminForReauth locks the admin's row for the transaction (on SQLite
// the immediate transaction holds the write lock already) and returns until
// when re-authentication is locked (zero when it is not).
func (s *Store) lockAdminForReauth(tx *gorm.DB, adminID int64) (time.Time, error) {
	var row struct{ ReauthLockedUntil *time.Time }
	if err := tx.Raw(`SELECT reauth_locked_until FROM admins WHERE id = ?`+database.ForUpdate(tx), adminID).Scan(&row).Error; err != nil {
		return time.Time{}, err
	}
	if row.ReauthLockedUntil == nil {
		return time.Time{}, nil
	}
	return *row.ReauthLockedUntil, nil
}
