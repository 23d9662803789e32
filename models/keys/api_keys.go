package keys

import (
	"context"
	"errors"
	"fmt"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"time"
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

// Errors of API key actions.
var (
	ErrKeyLimitReached = errors.New("keys: the program has reached its API key limit")
	ErrKeyActive       = errors.New("keys: the API key is active")
	ErrDefaultKey      = errors.New("keys: the legacy default key cannot be changed")
	// ErrNoChanges: an edit that changes nothing writes nothing, not even
	// an audit event.
	ErrNoChanges = errors.New("keys: the edit changes nothing")
)

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
	// The lifecycle (lifecycle.go): expiry, restrictions and the previous
	// secret a roll keeps until OldExpiresAt.
	ExpiresAt     *time.Time
	Restricted    bool
	Permissions   string
	AllowedIPs    string `gorm:"column:allowed_ips"`
	OldDigest     []byte
	OldSealed     []byte
	OldKeyVersion int64
	OldExpiresAt  *time.Time
	// A leak report (leaks.go): when, where the secret was found and who
	// reported it (LeakReporterGitHub, LeakReporterPublic); LeakedAt nil
	// when never reported.
	LeakedAt  *time.Time
	LeakedURL string `gorm:"column:leaked_url"`
	LeakedBy  string
	// Limits (quota.go): Quota requests per QuotaPeriod (0: no quota) and
	// RateLimitPerMinute overriding the default limits (0: the default).
	Quota              int64
	QuotaPeriod        string
	RateLimitPerMinute int
	// Secret is the new key right after Generate or Roll, to show once;
	// never stored, empty on every key loaded from the database.
	Secret string `gorm:"-"`
}

// TableName pins the table.
func (APIKey) TableName() string { return "api_keys" }

// Masked is the key as the list shows it.
func (k APIKey) Masked() string { return MaskKey(k.Last4) }

// KeyInput is what an admin types for a key.
type KeyInput struct {
	Name        string
	Description string
	// Expiry is the Generate dialog's Expires choice (ExpiryNever when
	// empty) and ExpiryDate its Custom date (YYYY-MM-DD); Generate only.
	Expiry     string
	ExpiryDate string
	// Access, when set, gives the key (Generate) or replaces (Update) its
	// permissions and allowed addresses.
	Access *AccessInput
	// Expiry, when set, replaces the key's expiry (Update only; the
	// management API's expires_at).
	NewExpiry *ExpiryChange
	// Limits, when set, is the key's quota and rate limit (the
	// management API's create and patch; the console's Edit).
	Limits *LimitsInput
}

// ExpiryChange is a new expiry for an existing key: At nil means never.
type ExpiryChange struct {
	At *time.Time
}

// Validate trims the input and reports what is wrong with it.
func (in *KeyInput) Validate() error {
	errs := input.ValidationError{}
	name, problem := input.Line("Name", in.Name)
	switch {
	case problem != "":
		errs["name"] = problem
	case name == "":
		errs["name"] = "Enter a name."
	case utf8.RuneCountInString(name) > MaxKeyNameLength:
		errs["name"] = fmt.Sprintf("Name must be at most %d characters.", MaxKeyNameLength)
	}
	desc, problem := input.Text("Description", in.Description)
	switch {
	case problem != "":
		errs["description"] = problem
	case utf8.RuneCountInString(desc) > MaxKeyDescriptionLength:
		errs["description"] = fmt.Sprintf("Description must be at most %d characters.", MaxKeyDescriptionLength)
	}
	in.Name, in.Description = name, desc
	if len(errs) > 0 {
		return errs
	}
	return nil
}

func nameTaken() input.ValidationError {
	return input.ValidationError{"name": "Another API key of this program already has this name."}
}

// insertKey creates a key row, then seals the key bound to the new row id.
func (s *Store) insertKey(tx *gorm.DB, programID int64, actor audit.Actor, name, description string, isDefault bool, expiresAt *time.Time) (*APIKey, error) {
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
		ExpiresAt:      expiresAt,
		Secret:         secret,
	}
	if err := tx.Create(key).Error; err != nil {
		if database.IsUniqueViolation(err) {
			return nil, nameTaken()
		}
		return nil, fmt.Errorf("keys: unable to create API key: %w", err)
	}
	key.Sealed, key.KeyVersion = s.keyring.Seal(key.ID, secret)
	if err := tx.Exec(`UPDATE api_keys SET sealed = ?, key_version = ? WHERE id = ?`, key.Sealed, key.KeyVersion, key.ID).Error; err != nil {
		return nil, fmt.Errorf("keys: unable to seal API key: %w", err)
	}
	return key, nil
}

func keyAudit(action string, key *APIKey) audit.Entry {
	return audit.Entry{Action: action, TargetType: audit.TargetAPIKey, TargetID: key.Identifier, TargetName: key.Name}
}

// Count counts a program's keys toward the limit.
func (s *Store) Count(ctx context.Context, programID int64) (int64, error) {
	return countKeys(s.db.WithContext(ctx), programID)
}

func countKeys(tx *gorm.DB, programID int64) (int64, error) {
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE`, programID).Scan(&n).Error
	return n, err
}

// Generate creates a key for the program. The count and the insert
// happen under the program lock, so concurrent requests never pass the
// limit; a refused attempt is audited.
func (s *Store) Generate(ctx context.Context, programID int64, actor audit.Actor, in KeyInput) (*APIKey, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var acc *access
	if in.Access != nil {
		a, err := in.Access.validate()
		if err != nil {
			return nil, err
		}
		acc = &a
	}
	if err := in.Limits.validate(); err != nil {
		return nil, err
	}
	var created *APIKey
	limitReached := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		n, err := countKeys(tx, programID)
		if err != nil {
			return err
		}
		if n >= MaxAPIKeysPerProgram {
			limitReached = true
			return s.audit.Append(tx, programID, actor, audit.Entry{
				Action: audit.ActionKeyGenerated, Outcome: audit.OutcomeRefused, TargetType: audit.TargetAPIKey, TargetName: in.Name,
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
		maxDays, err := maxKeyLifetimeDays(tx, programID)
		if err != nil {
			return err
		}
		expiresAt, err := resolveExpiry(s.now(), in.Expiry, in.ExpiryDate, maxDays)
		if err != nil {
			return err
		}
		key, err := s.insertKey(tx, programID, actor, in.Name, in.Description, false, expiresAt)
		if err != nil {
			return err
		}
		if acc != nil {
			key.Restricted, key.Permissions, key.AllowedIPs = acc.restricted, acc.permissions, acc.allowedIPs
			if err := tx.Exec(`UPDATE api_keys SET restricted = ?, permissions = ?, allowed_ips = ? WHERE id = ?`, key.Restricted, key.Permissions, key.AllowedIPs, key.ID).Error; err != nil {
				return err
			}
		}
		if in.Limits.changes(key) {
			key.Quota, key.QuotaPeriod, key.RateLimitPerMinute = in.Limits.Quota, in.Limits.QuotaPeriod, in.Limits.RateLimitPerMinute
			if err := tx.Exec(`UPDATE api_keys SET quota = ?, quota_period = ?, rate_limit_per_minute = ? WHERE id = ?`, key.Quota, key.QuotaPeriod, key.RateLimitPerMinute, key.ID).Error; err != nil {
				return err
			}
		}
		created = key
		entry := keyAudit(audit.ActionKeyGenerated, key)
		entry.Details = map[string]any{"description": key.Description, "expires": expiryWords(key.ExpiresAt)}
		if acc != nil {
			for k, v := range accessDetails(key) {
				entry.Details[k] = v
			}
		}
		if in.Limits != nil {
			for k, v := range limitsDetails(key) {
				entry.Details[k] = v
			}
		}
		return s.appendAndNotify(tx, programID, actor, entry, key)
	})
	if err != nil {
		var verr input.ValidationError
		if errors.As(err, &verr) || errors.Is(err, database.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("keys: unable to generate API key: %w", err)
	}
	if limitReached {
		return nil, ErrKeyLimitReached
	}
	return created, nil
}

// List lists a program's keys (not the default key), oldest first.
func (s *Store) List(ctx context.Context, programID int64) ([]APIKey, error) {
	var keys []APIKey
	err := s.db.WithContext(ctx).Where("program_id = ? AND is_default = ?", programID, false).Order("created_at, id").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("keys: unable to list API keys: %w", err)
	}
	return keys, nil
}

// Default returns the program's legacy default key.
func (s *Store) Default(ctx context.Context, programID int64) (*APIKey, error) {
	var k APIKey
	err := s.db.WithContext(ctx).Where("program_id = ? AND is_default = ?", programID, true).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keys: unable to load default key: %w", err)
	}
	return &k, nil
}

// ByID loads a key through its program: another program's id is
// database.ErrNotFound, never its key.
func (s *Store) ByID(ctx context.Context, programID, id int64) (*APIKey, error) {
	return keyByID(s.db.WithContext(ctx), programID, id)
}

func keyByID(tx *gorm.DB, programID, id int64) (*APIKey, error) {
	var k APIKey
	err := tx.Where("program_id = ? AND id = ?", programID, id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keys: unable to load API key: %w", err)
	}
	return &k, nil
}

// ByIdentifier loads a key (not the legacy default key) through its
// program by its public identifier: another program's identifier is
// database.ErrNotFound.
func (s *Store) ByIdentifier(ctx context.Context, programID int64, identifier string) (*APIKey, error) {
	var k APIKey
	err := s.db.WithContext(ctx).Where("program_id = ? AND identifier = ? AND is_default = ?", programID, identifier, false).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keys: unable to load API key: %w", err)
	}
	return &k, nil
}

// editableKey loads a key through its program for a change; the legacy
// default key cannot be edited, inactivated or deleted.
//
// The row is locked first (PostgreSQL; SQLite's immediate transaction holds
// the lock already), so two changes of one key (a roll and an
// inactivation) run one after the other, each announcing the digests the
// other left.
func editableKey(tx *gorm.DB, programID, id int64) (*APIKey, error) {
	var locked []int64
	if err := tx.Raw(`SELECT id FROM api_keys WHERE program_id = ? AND id = ?`+database.ForUpdate(tx), programID, id).Scan(&locked).Error; err != nil {
		return nil, fmt.Errorf("keys: unable to lock API key: %w", err)
	}
	k, err := keyByID(tx, programID, id)
	if err != nil {
		return nil, err
	}
	if k.IsDefault {
		return nil, ErrDefaultKey
	}
	return k, nil
}

// Reveal unseals one key for an admin who re-authenticated, auditing
// the reveal (or copy) in the same transaction. The secret is returned only
// if the event committed.
func (s *Store) Reveal(ctx context.Context, programID int64, actor audit.Actor, id int64, copied bool) (*APIKey, string, error) {
	return s.RevealConfirmed(ctx, nil, programID, actor, id, copied)
}

// RevealConfirmed is Reveal that first runs confirm (when not nil) in its
// transaction: the admin's one-time confirmation is spent if and only if
// the secret is released, and a confirm error releases nothing.
func (s *Store) RevealConfirmed(ctx context.Context, confirm database.TxStep, programID int64, actor audit.Actor, id int64, copied bool) (*APIKey, string, error) {
	var key *APIKey
	var secret string
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if confirm != nil {
			if err := confirm(tx); err != nil {
				return err
			}
		}
		k, err := keyByID(tx, programID, id)
		if err != nil {
			return err
		}
		secret, err = s.keyring.Open(k.ID, k.Sealed, k.KeyVersion)
		if err != nil {
			return err
		}
		key = k
		action := audit.ActionKeyRevealed
		if copied {
			action = audit.ActionKeyCopied
		}
		return s.appendAndNotify(tx, programID, actor, keyAudit(action, k), k)
	})
	if err != nil {
		if errors.Is(err, database.ErrNotFound) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("keys: unable to reveal API key: %w", err)
	}
	return key, secret, nil
}

// Update changes a key's name and description, auditing before/after.
func (s *Store) Update(ctx context.Context, programID int64, actor audit.Actor, id int64, in KeyInput) (*APIKey, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if err := in.Limits.validate(); err != nil {
		return nil, err
	}
	var acc *access
	if in.Access != nil {
		a, err := in.Access.validate()
		if err != nil {
			return nil, err
		}
		acc = &a
	}
	var key *APIKey
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		accessSame := acc == nil || (acc.restricted == k.Restricted && acc.permissions == k.Permissions && acc.allowedIPs == k.AllowedIPs)
		expirySame := in.NewExpiry == nil || sameInstant(in.NewExpiry.At, k.ExpiresAt)
		if k.Name == in.Name && k.Description == in.Description && accessSame && expirySame && !in.Limits.changes(k) {
			return ErrNoChanges
		}
		var taken int64
		if err := tx.Raw(`SELECT COUNT(*) FROM api_keys WHERE program_id = ? AND is_default = FALSE AND lower(name) = lower(?) AND id <> ?`, programID, in.Name, id).Scan(&taken).Error; err != nil {
			return err
		}
		if taken > 0 {
			return nameTaken()
		}
		before := map[string]any{"name": k.Name, "description": k.Description}
		detailsChanged := k.Name != in.Name || k.Description != in.Description
		k.Name, k.Description, k.UpdatedAt = in.Name, in.Description, s.now()
		if err := tx.Exec(`UPDATE api_keys SET name = ?, description = ?, updated_at = ? WHERE id = ?`, k.Name, k.Description, k.UpdatedAt, k.ID).Error; err != nil {
			if database.IsUniqueViolation(err) {
				return nameTaken()
			}
			return err
		}
		key = k
		accessChanged, err := s.updateAccess(tx, programID, actor, k, acc)
		if err != nil {
			return err
		}
		expiryChanged, err := s.updateExpiry(tx, programID, actor, k, in.NewExpiry)
		if err != nil {
			return err
		}
		limitsChanged, err := s.updateLimits(tx, programID, actor, k, in.Limits)
		if err != nil {
			return err
		}
		if (accessChanged || expiryChanged || limitsChanged) && !detailsChanged {
			return nil
		}
		entry := keyAudit(audit.ActionKeyUpdated, k)
		entry.Details = map[string]any{"before": before, "after": map[string]any{"name": k.Name, "description": k.Description}}
		return s.appendAndNotify(tx, programID, actor, entry, k)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "update")
	}
	return key, nil
}

func passThroughKeyErrors(err error, doing string) error {
	var verr input.ValidationError
	if errors.As(err, &verr) || errors.Is(err, database.ErrNotFound) || errors.Is(err, ErrKeyActive) || errors.Is(err, ErrDefaultKey) ||
		errors.Is(err, ErrKeyInactive) || errors.Is(err, ErrNoOldKey) || errors.Is(err, ErrNoChanges) {
		return err
	}
	return fmt.Errorf("keys: unable to %s API key: %w", doing, err)
}

// SetActive activates or inactivates a key. Inactivating runs the
// revocation hook in the same transaction, so every cache drops the key
// when the change commits.
func (s *Store) SetActive(ctx context.Context, programID int64, actor audit.Actor, id int64, active bool) (*APIKey, error) {
	var key *APIKey
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		k.Active, k.UpdatedAt = active, s.now()
		if err := tx.Exec(`UPDATE api_keys SET active = ?, updated_at = ? WHERE id = ?`, active, k.UpdatedAt, k.ID).Error; err != nil {
			return err
		}
		action := audit.ActionKeyActivated
		if !active {
			action = audit.ActionKeyInactivated
		}
		if err := s.announceKey(tx, k); err != nil {
			return err
		}
		key = k
		return s.appendAndNotify(tx, programID, actor, keyAudit(action, k), k)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "change")
	}
	return key, nil
}

// Delete hard-deletes an inactive key. An active key is refused (and
// the refusal audited) whatever the UI showed.
func (s *Store) Delete(ctx context.Context, programID int64, actor audit.Actor, id int64) (*APIKey, error) {
	var key *APIKey
	refused := false
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		k, err := editableKey(tx, programID, id)
		if err != nil {
			return err
		}
		key = k
		if k.Active {
			refused = true
			entry := keyAudit(audit.ActionKeyDeleted, k)
			entry.Outcome, entry.Details = audit.OutcomeRefused, map[string]any{"reason": "key is active"}
			return s.audit.Append(tx, programID, actor, entry)
		}
		if err := tx.Exec(`DELETE FROM api_keys WHERE id = ?`, k.ID).Error; err != nil {
			return err
		}
		if err := s.announceKey(tx, k); err != nil {
			return err
		}
		entry := keyAudit(audit.ActionKeyDeleted, k)
		entry.Details = map[string]any{"description": k.Description}
		return s.appendAndNotify(tx, programID, actor, entry, k)
	})
	if err != nil {
		return nil, passThroughKeyErrors(err, "delete")
	}
	if refused {
		return nil, ErrKeyActive
	}
	return key, nil
}
