package accounts

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
)

// Passkey limits.
const (
	MaxPasskeyNameLength = 64
	MaxPasskeysPerAdmin  = 20
)

// ErrTooManyPasskeys refuses a passkey beyond MaxPasskeysPerAdmin.
var ErrTooManyPasskeys = fmt.Errorf("an admin can add at most %d passkeys", MaxPasskeysPerAdmin)

// Passkey is one WebAuthn credential of an admin.
type Passkey struct {
	ID           int64
	AdminID      int64
	Name         string
	CredentialID string
	Credential   string
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// WebAuthnUser is an admin as the WebAuthn library sees them: the user
// handle is the admin's id (8 bytes), never their email.
type WebAuthnUser struct {
	Admin       *Admin
	Credentials []webauthn.Credential
}

// WebAuthnID is the user handle.
func (u *WebAuthnUser) WebAuthnID() []byte { return UserHandle(u.Admin.ID) }

// WebAuthnName is the admin's email.
func (u *WebAuthnUser) WebAuthnName() string { return u.Admin.Email }

// WebAuthnDisplayName is the admin's email.
func (u *WebAuthnUser) WebAuthnDisplayName() string { return u.Admin.Email }

// WebAuthnCredentials are the admin's passkeys.
func (u *WebAuthnUser) WebAuthnCredentials() []webauthn.Credential { return u.Credentials }

// UserHandle is the WebAuthn user handle of an admin.
func UserHandle(adminID int64) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(adminID))
}

// AdminIDFromHandle reads a user handle back; 0 when it is not one.
func AdminIDFromHandle(handle []byte) int64 {
	if len(handle) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(handle))
}

func credentialKey(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// cleanPasskeyName checks a passkey's name.
func cleanPasskeyName(name string) (string, error) {
	name, problem := input.Line("Name", name)
	switch {
	case problem != "":
		return "", input.ValidationError{"name": problem}
	case name == "":
		return "", input.ValidationError{"name": "Give the passkey a name, such as the device it lives on."}
	case len([]rune(name)) > MaxPasskeyNameLength:
		return "", input.ValidationError{"name": "Use at most " + strconv.Itoa(MaxPasskeyNameLength) + " characters."}
	}
	return name, nil
}

// ValidatePasskeyName checks a name before the browser ceremony starts.
func ValidatePasskeyName(name string) (string, error) { return cleanPasskeyName(name) }

// Passkeys lists an admin's passkeys, oldest first.
func (s *Store) Passkeys(ctx context.Context, adminID int64) ([]Passkey, error) {
	var list []Passkey
	if err := s.db.WithContext(ctx).Where("admin_id = ?", adminID).Order("id").Find(&list).Error; err != nil {
		return nil, fmt.Errorf("accounts: unable to list passkeys: %w", err)
	}
	return list, nil
}

// WebAuthnUser loads an admin with their credentials.
func (s *Store) WebAuthnUser(ctx context.Context, adminID int64) (*WebAuthnUser, error) {
	admin, err := s.AdminByID(ctx, adminID)
	if err != nil {
		return nil, err
	}
	list, err := s.Passkeys(ctx, adminID)
	if err != nil {
		return nil, err
	}
	u := &WebAuthnUser{Admin: admin}
	for _, p := range list {
		var c webauthn.Credential
		if err := json.Unmarshal([]byte(p.Credential), &c); err != nil {
			return nil, fmt.Errorf("accounts: unable to read passkey %d: %w", p.ID, err)
		}
		u.Credentials = append(u.Credentials, c)
	}
	return u, nil
}

// updatePasskeyCount recounts the admin's passkeys inside tx.
func updatePasskeyCount(tx *gorm.DB, adminID int64) error {
	return tx.Exec(`UPDATE admins SET passkey_count = (SELECT COUNT(*) FROM passkeys WHERE admin_id = ?) WHERE id = ?`, adminID, adminID).Error
}

// AddPasskey stores a credential the registration ceremony verified, for
// the acting admin, audited in programID.
func (s *Store) AddPasskey(ctx context.Context, programID int64, actor audit.Actor, name string, cred *webauthn.Credential) (*Passkey, error) {
	name, err := cleanPasskeyName(name)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	pk := &Passkey{AdminID: actor.AdminID, Name: name, CredentialID: credentialKey(cred.ID), Credential: string(raw), CreatedAt: s.now()}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.lockAdminForReauth(tx, actor.AdminID); err != nil {
			return err
		}
		var n int64
		if err := tx.Model(&Passkey{}).Where("admin_id = ?", actor.AdminID).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxPasskeysPerAdmin {
			return ErrTooManyPasskeys
		}
		if err := tx.Create(pk).Error; err != nil {
			return err
		}
		if err := updatePasskeyCount(tx, actor.AdminID); err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionPasskeyAdded, TargetType: audit.TargetAdmin,
			TargetID: strconv.FormatInt(actor.AdminID, 10), TargetName: actor.Email, Details: map[string]any{"passkey": name}})
	})
	if errors.Is(err, ErrTooManyPasskeys) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("accounts: unable to add the passkey: %w", err)
	}
	return pk, nil
}

// RenamePasskey renames one of the acting admin's passkeys; another
// admin's passkey is database.ErrNotFound.
func (s *Store) RenamePasskey(ctx context.Context, programID int64, actor audit.Actor, id int64, name string) error {
	name, err := cleanPasskeyName(name)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var old Passkey
		if err := tx.Where("id = ? AND admin_id = ?", id, actor.AdminID).Take(&old).Error; err != nil {
			return err
		}
		if old.Name == name {
			return nil
		}
		if err := tx.Exec(`UPDATE passkeys SET name = ? WHERE id = ? AND admin_id = ?`, name, id, actor.AdminID).Error; err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionPasskeyRenamed, TargetType: audit.TargetAdmin,
			TargetID: strconv.FormatInt(actor.AdminID, 10), TargetName: actor.Email, Details: map[string]any{"from": old.Name, "to": name}})
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return database.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: unable to rename the passkey: %w", err)
	}
	return nil
}

// RemovePasskey removes one of the acting admin's passkeys; it no longer
// signs them in.
func (s *Store) RemovePasskey(ctx context.Context, programID int64, actor audit.Actor, id int64) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.lockAdminForReauth(tx, actor.AdminID); err != nil {
			return err
		}
		var old Passkey
		if err := tx.Where("id = ? AND admin_id = ?", id, actor.AdminID).Take(&old).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM passkeys WHERE id = ? AND admin_id = ?`, id, actor.AdminID).Error; err != nil {
			return err
		}
		if err := updatePasskeyCount(tx, actor.AdminID); err != nil {
			return err
		}
		return s.audit.Append(tx, programID, actor, audit.Entry{Action: audit.ActionPasskeyRemoved, TargetType: audit.TargetAdmin,
			TargetID: strconv.FormatInt(actor.AdminID, 10), TargetName: actor.Email, Details: map[string]any{"passkey": old.Name}})
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return database.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: unable to remove the passkey: %w", err)
	}
	return nil
}

// ErrPasskeyCloned refuses an assertion whose signature counter went
// backwards (the authenticator may have been cloned).
var ErrPasskeyCloned = errors.New("the passkey's signature counter went backwards")

// PasskeyUsed records a verified assertion: the credential's new counter
// and flags and when it was used. The counter only moves forward: an
// assertion carrying a counter not above the stored one (when counters
// are in use) is refused, also when two arrive at once.
func (s *Store) PasskeyUsed(ctx context.Context, adminID int64, cred *webauthn.Credential) error {
	if cred.Authenticator.CloneWarning {
		return ErrPasskeyCloned
	}
	raw, err := json.Marshal(cred)
	if err != nil {
		return err
	}
	key := credentialKey(cred.ID)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.lockAdminForReauth(tx, adminID); err != nil {
			return err
		}
		var old Passkey
		if err := tx.Where("admin_id = ? AND credential_id = ?", adminID, key).Take(&old).Error; err != nil {
			return err
		}
		var stored webauthn.Credential
		if err := json.Unmarshal([]byte(old.Credential), &stored); err != nil {
			return err
		}
		if cred.Authenticator.SignCount != 0 && cred.Authenticator.SignCount <= stored.Authenticator.SignCount {
			return ErrPasskeyCloned
		}
		return tx.Exec(`UPDATE passkeys SET credential = ?, last_used_at = ? WHERE id = ?`, string(raw), s.now(), old.ID).Error
	})
	if errors.Is(err, ErrPasskeyCloned) {
		return err
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return database.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("accounts: unable to record the passkey's use: %w", err)
	}
	return nil
}
