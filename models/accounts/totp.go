package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
)

// Authenticator app (TOTP, RFC 6238) settings and throttling. A code is
// accepted once: the admin's row remembers the last time step used, and
// only a later step passes. Wrong codes are throttled like passwords.
const (
	totpPeriod          = 30
	totpSkew            = 1
	maxTOTPFailures     = 5
	scopeTOTP           = "totp"
	RecoveryCodeCount   = 10
	totpIssuer          = "keydesk"
	recoveryCodeLength  = 10
	maxSecondFactorCode = 64
)

// Errors of the second factor.
var (
	ErrInvalidCode   = errors.New("the code is wrong or was already used")
	ErrTOTPNotSetUp  = errors.New("no authenticator app is set up")
	ErrTOTPAlreadyOn = errors.New("an authenticator app is already set up")
)

// NewTOTPKey generates a new authenticator secret for an admin (not saved
// until EnableTOTP confirms a code from it).
func NewTOTPKey(email string) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// TOTPKeyFromSecret rebuilds the key (for its QR code) of a pending secret.
func TOTPKeyFromSecret(email, secret string) (*otp.Key, error) {
	return otp.NewKeyFromURL("otpauth://totp/" + totpIssuer + ":" + email + "?secret=" + secret + "&issuer=" + totpIssuer + "&period=30&digits=6&algorithm=SHA1")
}

// matchTOTP returns the time step a code is valid for (within one step of
// now), or 0.
func matchTOTP(secret, code string, now time.Time) int64 {
	code = strings.TrimSpace(strings.ReplaceAll(code, " ", ""))
	if len(code) != 6 {
		return 0
	}
	step := now.Unix() / totpPeriod
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := step + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s
		}
	}
	return 0
}

// EnableTOTP saves a pending secret once a code from it is right, and
// returns ten single-use recovery codes (shown once; stored as digests).
func (s *Store) EnableTOTP(ctx context.Context, programID int64, actor audit.Actor, secret, code string) ([]string, error) {
	step := matchTOTP(secret, code, s.now())
	if step == 0 {
		return nil, ErrInvalidCode
	}
	codes := newRecoveryCodes()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE admins SET totp_secret = ?, totp_last_step = ? WHERE id = ? AND totp_secret = ''`, s.sealTOTP(actor.AdminID, secret), step, actor.AdminID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrTOTPAlreadyOn
		}
		if err := s.replaceRecoveryCodes(tx, actor.AdminID, codes); err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionTOTPEnabled, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(actor.AdminID), TargetName: actor.Email})
	})
	if errors.Is(err, ErrTOTPAlreadyOn) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to set up the authenticator app: %w", err)
	}
	return codes, nil
}

// newRecoveryCodes makes RecoveryCodeCount fresh codes, "abcde-fghij".
func newRecoveryCodes() []string {
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		c := strings.ToLower(rand.Text()[:recoveryCodeLength])
		codes[i] = c[:5] + "-" + c[5:]
	}
	return codes
}

// replaceRecoveryCodes drops every recovery code of the admin, used or
// not, and stores the digests of codes in their place, inside tx.
func (s *Store) replaceRecoveryCodes(tx *gorm.DB, adminID int64, codes []string) error {
	if err := tx.Exec(`DELETE FROM recovery_codes WHERE admin_id = ?`, adminID).Error; err != nil {
		return err
	}
	for _, c := range codes {
		if err := tx.Exec(`INSERT INTO recovery_codes (admin_id, digest, created_at) VALUES (?, ?, ?)`, adminID, grantDigest(c), s.now()).Error; err != nil {
			return err
		}
	}
	return nil
}

// ErrTOTPOff refuses recovery codes to an admin without an authenticator
// app: they go with it.
var ErrTOTPOff = errors.New("set up an authenticator app first")

// RegenerateRecoveryCodes replaces the acting admin's recovery codes with
// ten new ones (shown once): the old ones stop working. step is the
// step-up's spend (Session.SpendReauth), run in the same transaction as
// the change and its audit event.
func (s *Store) RegenerateRecoveryCodes(ctx context.Context, step database.TxStep, programID int64, actor audit.Actor) ([]string, error) {
	codes := newRecoveryCodes()
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if step != nil {
			if err := step(tx); err != nil {
				return err
			}
		}
		var withApp []int64
		if err := tx.Raw(`SELECT id FROM admins WHERE id = ? AND totp_secret <> ''`+database.ForUpdate(tx), actor.AdminID).Scan(&withApp).Error; err != nil {
			return err
		}
		if len(withApp) == 0 {
			return ErrTOTPOff
		}
		if err := s.replaceRecoveryCodes(tx, actor.AdminID, codes); err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionRecoveryCodesRegenerated, TargetType: audit.TargetAdmin,
			TargetID: fmt.Sprint(actor.AdminID), TargetName: actor.Email, Details: map[string]any{"recovery_codes": RecoveryCodeCount}})
	})
	if errors.Is(err, ErrTOTPOff) || errors.Is(err, ErrReauthGrantSpent) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to make new recovery codes: %w", err)
	}
	return codes, nil
}

// DisableTOTP removes the authenticator app and its recovery codes (the
// caller confirmed the password first).
func (s *Store) DisableTOTP(ctx context.Context, programID int64, actor audit.Actor) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE admins SET totp_secret = '', totp_last_step = 0 WHERE id = ?`, actor.AdminID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM recovery_codes WHERE admin_id = ?`, actor.AdminID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionTOTPDisabled, TargetType: audit.TargetAdmin, TargetID: fmt.Sprint(actor.AdminID), TargetName: actor.Email})
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to remove the authenticator app: %w", err)
	}
	return nil
}

// RecoveryCodesLeft counts an admin's unused recovery codes.
func (s *Store) RecoveryCodesLeft(ctx context.Context, adminID int64) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Raw(`SELECT COUNT(*) FROM recovery_codes WHERE admin_id = ? AND used_at IS NULL`, adminID).Scan(&n).Error
	if err != nil {
		return 0, fmt.Errorf("accounts: unable to count recovery codes: %w", err)
	}
	return n, nil
}

// VerifySecondFactor checks an authenticator code or a recovery code of
// the admin. Each attempt is reserved against the throttle (five failures
// in 15 minutes) under a lock on the admin's row before it is checked, as
// passwords are; a right TOTP code moves the admin's last time step
// forward in the same statement that accepts it, so a code (or an older
// one) never passes twice, even simultaneously; a recovery code is spent
// by the one statement that marks it used. Failures are audited in
// programID.
func (s *Store) VerifySecondFactor(ctx context.Context, programID int64, actor audit.Actor, adminID int64, code string) error {
	db := s.db.WithContext(ctx)
	admin, err := s.AdminByID(ctx, adminID)
	if err != nil {
		return err
	}
	if !admin.HasTOTP() {
		return ErrTOTPNotSetUp
	}
	subject := fmt.Sprint(adminID)
	var reserved authFailure
	throttled := false
	err = db.Transaction(func(tx *gorm.DB) error {
		if _, err := s.lockAdminForReauth(tx, adminID); err != nil {
			return err
		}
		now := s.now()
		n, err := s.countFailures(tx, scopeTOTP, subject, now.Add(-throttleWindow))
		if err != nil {
			return err
		}
		if n >= maxTOTPFailures {
			throttled = true
			return nil
		}
		reserved = authFailure{Scope: scopeTOTP, Subject: subject, CreatedAt: now}
		return tx.Create(&reserved).Error
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to reserve a code attempt: %w", err)
	}
	actor.AdminID, actor.Email = admin.ID, admin.Email
	entry := audit.Entry{Action: audit.ActionSecondFactorFailed, Outcome: audit.OutcomeFailure, TargetType: audit.TargetAdmin, TargetID: subject, TargetName: admin.Email}
	if throttled {
		entry.Outcome, entry.Details = audit.OutcomeRefused, map[string]any{"reason": "throttled"}
		if err := s.audit.Record(ctx, programID, actor, entry); err != nil {
			return err
		}
		return ErrThrottled
	}
	if len(code) > maxSecondFactorCode {
		code = code[:maxSecondFactorCode]
	}
	secret, err := s.openTOTP(admin.ID, admin.TOTPSecret)
	if err != nil {
		return err
	}
	ok := false
	err = db.Transaction(func(tx *gorm.DB) error {
		if step := matchTOTP(secret, code, s.now()); step != 0 {
			res := tx.Exec(`UPDATE admins SET totp_last_step = ? WHERE id = ? AND totp_secret = ? AND totp_last_step < ?`, step, adminID, admin.TOTPSecret, step)
			if res.Error != nil {
				return res.Error
			}
			ok = res.RowsAffected == 1
			if !ok {
				entry.Details = map[string]any{"reason": "code already used"}
			}
		} else if c := strings.ToLower(strings.TrimSpace(code)); len(c) == recoveryCodeLength+1 {
			res := tx.Exec(`UPDATE recovery_codes SET used_at = ? WHERE admin_id = ? AND digest = ? AND used_at IS NULL`, s.now(), adminID, grantDigest(c))
			if res.Error != nil {
				return res.Error
			}
			if ok = res.RowsAffected == 1; ok {
				used := entry
				used.Action, used.Outcome = audit.ActionRecoveryCodeUsed, audit.OutcomeSuccess
				if err := s.audit.Append(tx, programID, actor, used); err != nil {
					return err
				}
			}
		}
		if ok {
			return tx.Exec(`DELETE FROM auth_failures WHERE id = ?`, reserved.ID).Error
		}
		if entry.Details == nil {
			entry.Details = map[string]any{"reason": "wrong code"}
		}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		return fmt.Errorf("accounts: unable to check the code: %w", err)
	}
	if !ok {
		return ErrInvalidCode
	}
	return nil
}
