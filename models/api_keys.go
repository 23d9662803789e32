package models

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// MaxAPIKeysPerProgram caps a program's keys (active and inactive; the legacy
// default key does not count).
const MaxAPIKeysPerProgram = 20

// Field limits of an API key.
const (
	MaxKeyNameLength        = 100
	MaxKeyDescriptionLength = 500
)

const auditTargetTypeKey = "api_key"

// Errors of API key actions.
var (
	ErrKeyLimitReached = fmt.Errorf("this program already has %d API keys, the most allowed: delete an inactive key first", MaxAPIKeysPerProgram)
	ErrKeyActive       = errors.New("an active API key cannot be deleted: inactivate it first")
	ErrDefaultKey      = errors.New("the legacy default key cannot be changed here")
)

// ValidationError maps form fields to what is wrong with them.
type ValidationError map[string]string

func (v ValidationError) Error() string {
	parts := make([]string, 0, len(v))
	for field, msg := range v {
		parts = append(parts, field+": "+msg)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// APIKey is one program's API key. The plaintext never lives in a column:
// Digest finds it, Sealed holds it encrypted, Last4 masks it.
type APIKey struct {
	ID             int64
	ProgramID      int64
	Identifier     string
	Name           string
	Description    string
	Digest         []byte
	Sealed         []byte
	KeyVersion     int64
	Last4          string
	IsDefault      bool
	Active         bool
	CreatedByID    int64
	CreatedByEmail string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastUsedAt     *time.Time
}

// TableName pins the table.
func (APIKey) TableName() string { return "api_keys" }

// Masked is the key as the list shows it.
func (k APIKey) Masked() string { return MaskKey(k.Last4) }

// KeyInput is what an admin types for a key.
type KeyInput struct {
	Name        string
	Description string
}

// cleanText trims, and rejects what does not belong in a one-line label:
// invalid UTF-8, control characters and bidirectional overrides.
func cleanText(s string) (string, bool) {
	if !utf8.ValidString(s) {
		return "", false
	}
	s = strings.TrimSpace(s)
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff' {
			return "", false
		}
	}
	return s, true
}

// Validate trims the input and reports what is wrong with it.
func (in *KeyInput) Validate() error {
	errs := ValidationError{}
	name, ok := cleanText(in.Name)
	switch {
	case !ok:
		errs["name"] = "Name contains characters that are not allowed."
	case strings.ContainsAny(name, "\n\r\t"):
		errs["name"] = "Name must be a single line."
	case name == "":
		errs["name"] = "Enter a name."
	case utf8.RuneCountInString(name) > MaxKeyNameLength:
		errs["name"] = fmt.Sprintf("Name must be at most %d characters.", MaxKeyNameLength)
	}
	desc, ok := cleanText(in.Description)
	switch {
	case !ok:
		errs["description"] = "Description contains characters that are not allowed."
	case utf8.RuneCountInString(desc) > MaxKeyDescriptionLength:
		errs["description"] = fmt.Sprintf("Description must be at most %d characters.", MaxKeyDescriptionLength)
	}
	in.Name, in.Description = name, desc
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func nameTaken() ValidationError {
	return ValidationError{"name": "Another API key of this program already has this name."}
}

// insertKey creates a key row, then seals the key bound to the new row id.
func (s *Store) insertKey(tx *gorm.DB, programID int64, actor Actor, name, description string, isDefault bool) (*APIKey, error) {
	secret := NewAPIKeyString()
	now := s.now()
	key := &APIKey{
		ProgramID:      programID,
		Identifier:     NewIdentifier(),
		Name:           name,
		Description:    description,
		Digest:         KeyDigest(secret),
		Last4:          secret[len(secret)-4:],
		IsDefault:      isDefault,
		Active:         true,
		CreatedByID:    actor.AdminID,
		CreatedByEmail: actor.Email,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := tx.Create(key).Error; err != nil {
		if isUniqueViolation(err) {
			return nil, nameTaken()
		}
		return nil, fmt.Errorf("store: unable to create API key: %w", err)
	}
	key.Sealed, key.KeyVersion = s.keyring.Seal(key.ID, secret)
	if err := tx.Exec(`UPDATE api_keys SET sealed = ?, key_version = ? WHERE id = ?`, key.Sealed, key.KeyVersion, key.ID).Error; err != nil {
		return nil, fmt.Errorf("store: unable to seal API key: %w", err)
	}
	return key, nil
}

func keyAudit(action string, key *APIKey) AuditEntry {
	return AuditEntry{Action: action, TargetType: auditTargetTypeKey, TargetID: key.Identifier, TargetName: key.Name}
}

// lockProgram serialises key-limit checks of one program: a row lock on
// PostgreSQL; on SQLite the immediate transaction already holds the lock.
func lockProgram(tx *gorm.DB, programID int64) error {
	var id int64
	if err := tx.Raw(`SELECT id FROM programs WHERE id = ?`+forUpdate(tx), programID).Scan(&id).Error; err != nil {
		return fmt.Errorf("store: unable to lock program: %w", err)
	}
	if id == 0 {
		return ErrNotFound
	}
	return nil
}

// CountAPIKeys counts a program's keys toward the limit.
func (s *Store) CountAPIKeys(programID int64) (int64, error) {
	return countKeys(s.db, programID)
}

func countKeys(tx *gorm.DB, programID int64) (int64, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE`, programID).Scan(&n).Error
	return n, err
}

// GenerateAPIKey creates a key for the program. The count and the insert
// happen under the program lock, so concurrent requests never pass the
// limit; a refused attempt is audited.
func (s *Store) GenerateAPIKey(programID int64, actor Actor, in KeyInput) (*APIKey, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var created *APIKey
	limitReached := false
	err := s.db.Transaction(func(tx *gorm.DB) error {
		if err := lockProgram(tx, programID); err != nil {
			return err
		}
		n, err := countKeys(tx, programID)
		if err != nil {
			return err
		}
		if n >= MaxAPIKeysPerProgram {
			limitReached = true
			return s.AppendAudit(tx, programID, actor, AuditEntry{
				Action: ActionKeyGenerated, Outcome: OutcomeRefused, TargetType: auditTargetTypeKey, TargetName: in.Name,
				Details: map[string]any{"reason": "limit", "limit": MaxAPIKeysPerProgram},
			})
		}
		var taken int64
		if err := tx.Raw(`SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE AND lower(name) = lower(?)`, programID, in.Name).Scan(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return nameTaken()
		}
		key, err := s.insertKey(tx, programID, actor, in.Name, in.Description, false)
		if err != nil {
			return err
		}
		created = key
		entry := keyAudit(ActionKeyGenerated, key)
		entry.Details = map[string]any{"description": key.Description}
		return s.AppendAudit(tx, programID, actor, entry)
	})
	if err != nil {
		var verr ValidationError
		if errors.As(err, &verr) || errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("store: unable to generate API key: %w", err)
	}
	if limitReached {
		return nil, ErrKeyLimitReached
	}
	return created, nil
}

// ListAPIKeys lists a program's keys (not the default key), oldest first.
func (s *Store) ListAPIKeys(programID int64) ([]APIKey, error) {
	var keys []APIKey
	err := s.db.Where("program_id = ? AND is_default = ?", programID, false).Order("created_at, id").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to list API keys: %w", err)
	}
	return keys, nil
}

// DefaultAPIKey returns the program's legacy default key.
func (s *Store) DefaultAPIKey(programID int64) (*APIKey, error) {
	var k APIKey
	err := s.db.Where("program_id = ? AND is_default = ?", programID, true).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to load default key: %w", err)
	}
	return &k, nil
}

// APIKeyByID loads a key through its program: another program's id is
// ErrNotFound, never its key.
func (s *Store) APIKeyByID(programID, id int64) (*APIKey, error) {
	return keyByID(s.db, programID, id)
}

func keyByID(tx *gorm.DB, programID, id int64) (*APIKey, error) {
	var k APIKey
	err := tx.Where("program_id = ? AND id = ?", programID, id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: unable to load API key: %w", err)
	}
	return &k, nil
}

// editableKey loads a key through its program for a change; the legacy
// default key cannot be edited, inactivated or deleted.
func editableKey(tx *gorm.DB, programID, id int64) (*APIKey, error) {
	k, err := keyByID(tx, programID, id)
	if err != nil {
		return nil, err
	}
	if k.IsDefault {
		return nil, ErrDefaultKey
	}
	return k, nil
}

// RevealAPIKey unseals one key for an admin who re-authenticated, auditing
// the reveal (or copy) in the same transaction. The secret is returned only
// if the event committed.
func (s *Store) RevealAPIKey(programID int64, actor Actor, id int64, copied bool) (*APIKey, string, error) {
	var key *APIKey
	var secret string
	err := s.db.Transaction(func(tx *gorm.DB) error {
		k, err := keyByID(tx, programID, id)
		if err != nil {
			return err
		}
		secret, err = s.keyring.Open(k.ID, k.Sealed, k.KeyVersion)
		if err != nil {
			return err
		}
		key = k
		action := ActionKeyRevealed
		if copied {
			action = ActionKeyCopied
		}
		return s.AppendAudit(tx, programID, actor, keyAudit(action, k))
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("store: unable to reveal API key: %w", err)
	}
	return key, secret, nil
}

// UpdateAPIKey changes a key's name and description, auditing before/after.
func (s *Store) UpdateAPIKey(programID int64, actor Actor, id int64, in KeyInput) (*APIKey, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var key *APIKey
	err := s.db.Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		var taken int64
		if err := tx.Raw(`SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE AND lower(name) = lower(?) AND id <> ?`, programID, in.Name, id).Scan(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return nameTaken()
		}
		before := map[string]any{"name": k.Name, "description": k.Description}
		k.Name, k.Description, k.UpdatedAt = in.Name, in.Description, s.now()
		if err := tx.Exec(`UPDATE api_keys SET name = ?, description = ?, updated_at = ? WHERE id = ?`, k.Name, k.Description, k.UpdatedAt, k.ID).Error; err != nil {
			if isUniqueViolation(err) {
				return nameTaken()
			}
			return err
		}
		key = k
		entry := keyAudit(ActionKeyEdited, k)
		entry.Details = map[string]any{"before": before, "after": map[string]any{"name": k.Name, "description": k.Description}}
		return s.AppendAudit(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "update")
	}
	return key, nil
}

func passThroughKeyErrors(err error, doing string) error {
	var verr ValidationError
	if errors.As(err, &verr) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrKeyActive) || errors.Is(err, ErrDefaultKey) {
		return err
	}
	return fmt.Errorf("store: unable to %s API key: %w", doing, err)
}

// SetAPIKeyActive activates or inactivates a key. Inactivating runs the
// revocation hook in the same transaction, so every cache drops the key
// when the change commits.
func (s *Store) SetAPIKeyActive(programID int64, actor Actor, id int64, active bool) (*APIKey, error) {
	var key *APIKey
	err := s.db.Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		k.Active, k.UpdatedAt = active, s.now()
		if err := tx.Exec(`UPDATE api_keys SET active = ?, updated_at = ? WHERE id = ?`, active, k.UpdatedAt, k.ID).Error; err != nil {
			return err
		}
		action := ActionKeyActivated
		if !active {
			action = ActionKeyInactivated
		}
		if err := s.onKeyRevoked(tx, k.Digest); err != nil {
			return err
		}
		key = k
		return s.AppendAudit(tx, programID, actor, keyAudit(action, k))
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "change")
	}
	return key, nil
}

// DeleteAPIKey hard-deletes an inactive key. An active key is refused (and
// the refusal audited) whatever the UI showed.
func (s *Store) DeleteAPIKey(programID int64, actor Actor, id int64) (*APIKey, error) {
	var key *APIKey
	refused := false
	err := s.db.Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		key = k
		if k.Active {
			refused = true
			entry := keyAudit(ActionKeyDeleted, k)
			entry.Outcome, entry.Details = OutcomeRefused, map[string]any{"reason": "key is active"}
			return s.AppendAudit(tx, programID, actor, entry)
		}
		if err := tx.Exec(`DELETE FROM api_keys WHERE id = ?`, k.ID).Error; err != nil {
			return err
		}
		if err := s.onKeyRevoked(tx, k.Digest); err != nil {
			return err
		}
		entry := keyAudit(ActionKeyDeleted, k)
		entry.Details = map[string]any{"description": k.Description}
		return s.AppendAudit(tx, programID, actor, entry)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "delete")
	}
	if refused {
		return nil, ErrKeyActive
	}
	return key, nil
}

// AuditRefusal records an attempt refused for lack of a role.
func (s *Store) AuditRefusal(programID int64, actor Actor, what string) error {
	return s.Audit(programID, actor, AuditEntry{Action: ActionAccessRefused, Outcome: OutcomeRefused, TargetType: "route", TargetName: what})
}
