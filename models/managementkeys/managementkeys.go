// Package managementkeys holds programs' management keys (kdm_…): the keys
// a program's own code uses to drive the management API. Only what
// verification needs is stored (the SHA-256 digest, the last four
// characters for the list); the secret is shown once, at creation, and
// never again. Revoking a key announces its digest through the same
// revocations as API keys, so every instance's verifier forgets it when the
// revocation commits.
package managementkeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/outbox"
)

// Format: keys.ManagementKeyPrefix ("kdm_") + 30 random base62 characters
// + 6 base62 characters of the CRC32 of the random part, as API keys;
// identifier "kdmi_" + 16 base62.
const (
	KeyLength        = len(keys.ManagementKeyPrefix) + 30 + 6
	IdentifierPrefix = "kdmi_"
	identifierLen    = 16
)

// MaxNameLength bounds a management key's name.
const MaxNameLength = 100

// MaxPerProgram bounds a program's live management keys.
const MaxPerProgram = 20

// Scope is what a management key may do through the management API.
type Scope string

// Scopes a management key may hold.
const (
	ScopeKeysRead  Scope = "keys:read"
	ScopeKeysWrite Scope = "keys:write"
	ScopeUsageRead Scope = "usage:read"
	ScopeAuditRead Scope = "audit:read"
)

// AllScopes lists the scopes in the order the console shows them.
var AllScopes = []Scope{ScopeKeysRead, ScopeKeysWrite, ScopeUsageRead, ScopeAuditRead}

// Label is the scope as the console names it.
func (s Scope) Label() string {
	switch s {
	case ScopeKeysRead:
		return "Keys: read"
	case ScopeKeysWrite:
		return "Keys: write"
	case ScopeUsageRead:
		return "Usage: read"
	case ScopeAuditRead:
		return "Audit: read"
	}
	return string(s)
}

// Expires choices of the Create management key form.
const (
	Expiry30Days = "30d"
	Expiry90Days = "90d"
	Expiry1Year  = "1y"
	ExpiryNever  = "never"
)

// ExpiryChoices are the Expires options in order, with their labels;
// 90 days is the default.
var ExpiryChoices = []struct{ Value, Label string }{
	{Expiry30Days, "30 days"}, {Expiry90Days, "90 days"}, {Expiry1Year, "1 year"}, {ExpiryNever, "Never"},
}

// Errors of management key actions.
var (
	ErrLimitReached = errors.New("managementkeys: the program has reached its management key limit")
)

// Key is one program's management key. Secret is set only on the key
// Create returns, to show once; it is never stored.
type Key struct {
	ID             int64
	ProgramID      int64
	Identifier     string
	Name           string
	Scopes         string
	Digest         []byte
	Last4          string
	CreatedByID    int64
	CreatedByEmail string
	CreatedAt      time.Time
	ExpiresAt      *time.Time
	LastUsedAt     *time.Time
	RevokedAt      *time.Time
	Secret         string `gorm:"-"`
}

// TableName pins the table.
func (Key) TableName() string { return "management_keys" }

// ScopeList is the key's scopes in AllScopes order.
func (k Key) ScopeList() []Scope {
	var out []Scope
	for _, s := range AllScopes {
		if slices.Contains(strings.Fields(k.Scopes), string(s)) {
			out = append(out, s)
		}
	}
	return out
}

// HasScope reports whether the key holds s.
func (k Key) HasScope(s Scope) bool { return slices.Contains(strings.Fields(k.Scopes), string(s)) }

// Expired reports whether the key has expired at now.
func (k Key) Expired(now time.Time) bool { return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) }

// Masked is the key as the list shows it.
func (k Key) Masked() string {
	return keys.ManagementKeyPrefix + "••••••••••" + k.Last4
}

// NewSecret returns a fresh management key.
func NewSecret() string { return keys.NewPrefixedSecret(keys.ManagementKeyPrefix) }

// CheckFormat verifies prefix, length, alphabet and checksum offline.
func CheckFormat(secret string) error { return keys.CheckManagementKeyFormat(secret) }

// NewIdentifier returns a fresh public management key identifier.
func NewIdentifier() string { return IdentifierPrefix + keys.RandomBase62(identifierLen) }

// IsIdentifier reports whether s has the shape of a management key identifier.
func IsIdentifier(s string) bool {
	if len(s) != len(IdentifierPrefix)+identifierLen || !strings.HasPrefix(s, IdentifierPrefix) {
		return false
	}
	for _, c := range s[len(IdentifierPrefix):] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Input is what an admin types for a new management key.
type Input struct {
	Name   string
	Scopes []string
	Expiry string
}

// validate trims the input and reports what is wrong with it; it returns
// the scopes in column form.
func (in *Input) validate() (string, error) {
	errs := input.ValidationError{}
	name, problem := input.Line("Name", in.Name)
	switch {
	case problem != "":
		errs["name"] = problem
	case name == "":
		errs["name"] = "Enter a name."
	case utf8.RuneCountInString(name) > MaxNameLength:
		errs["name"] = fmt.Sprintf("Name must be at most %d characters.", MaxNameLength)
	}
	in.Name = name
	var scopes []string
	for _, s := range AllScopes {
		if slices.Contains(in.Scopes, string(s)) {
			scopes = append(scopes, string(s))
		}
	}
	for _, s := range in.Scopes {
		if !slices.Contains(AllScopes, Scope(s)) {
			errs["scopes"] = "Choose scopes from the list."
		}
	}
	if len(scopes) == 0 && errs["scopes"] == "" {
		errs["scopes"] = "Choose at least one scope."
	}
	if in.Expiry == "" {
		in.Expiry = Expiry90Days
	}
	if !slices.ContainsFunc(ExpiryChoices, func(c struct{ Value, Label string }) bool { return c.Value == in.Expiry }) {
		errs["expiry"] = "Choose when the key expires."
	}
	if len(errs) > 0 {
		return "", errs
	}
	return strings.Join(scopes, " "), nil
}

func expiresAt(now time.Time, choice string) *time.Time {
	var at time.Time
	switch choice {
	case Expiry30Days:
		at = now.AddDate(0, 0, 30)
	case Expiry90Days:
		at = now.AddDate(0, 0, 90)
	case Expiry1Year:
		at = now.AddDate(1, 0, 0)
	default:
		return nil
	}
	at = at.UTC()
	return &at
}

// Store reads and changes management keys.
type Store struct {
	db          *gorm.DB
	audit       *audit.Store
	outbox      *outbox.Store
	keyring     *keys.Keyring
	revocations *keys.Revocations
	now         database.Clock
}

// NewStore builds the management keys store; revocations are announced
// through the same revocations as API keys, a leaked key's notice goes
// through outboxStore, and idempotency records are sealed under keyring.
func NewStore(db *gorm.DB, auditStore *audit.Store, outboxStore *outbox.Store, keyring *keys.Keyring, revocations *keys.Revocations, now database.Clock) *Store {
	return &Store{db: db, audit: auditStore, outbox: outboxStore, keyring: keyring, revocations: revocations, now: now}
}

func keyAudit(action string, k *Key) audit.Entry {
	return audit.Entry{Action: action, TargetType: audit.TargetManagementKey, TargetID: k.Identifier, TargetName: k.Name}
}

func scopeWords(k *Key) string {
	labels := []string{}
	for _, s := range k.ScopeList() {
		labels = append(labels, s.Label())
	}
	return strings.Join(labels, ", ")
}

func expiryWords(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// Create makes a management key for the program and audits it in the same
// transaction; the secret is in the returned key's Secret, this once. At
// most MaxPerProgram live keys: counted and inserted under the program
// lock.
func (s *Store) Create(ctx context.Context, programID int64, actor audit.Actor, in Input) (*Key, error) {
	return s.CreateConfirmed(ctx, nil, programID, actor, in)
}

// CreateConfirmed is Create that first runs confirm (when not nil) in its
// transaction: the admin's one-time password confirmation is spent if and
// only if the key is made.
func (s *Store) CreateConfirmed(ctx context.Context, confirm database.TxStep, programID int64, actor audit.Actor, in Input) (*Key, error) {
	scopes, err := in.validate()
	if err != nil {
		return nil, err
	}
	var created *Key
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if confirm != nil {
			if err := confirm(tx); err != nil {
				return err
			}
		}
		if err := database.LockProgram(tx, programID); err != nil {
			return err
		}
		var n int64
		if err := tx.Raw(`SELECT COUNT(*) FROM management_keys WHERE program_id = ? AND revoked_at IS NULL`, programID).Scan(&n).Error; err != nil {
			return err
		}
		if n >= MaxPerProgram {
			return ErrLimitReached
		}
		now := s.now().UTC()
		secret := NewSecret()
		k := &Key{
			ProgramID: programID, Identifier: NewIdentifier(), Name: in.Name, Scopes: scopes,
			Digest: keys.KeyDigest(secret), Last4: secret[len(secret)-4:],
			CreatedByID: actor.AdminID, CreatedByEmail: actor.Email, CreatedAt: now,
			ExpiresAt: expiresAt(now, in.Expiry),
		}
		if err := tx.Create(k).Error; err != nil {
			return fmt.Errorf("unable to insert: %w", err)
		}
		k.Secret = secret
		created = k
		entry := keyAudit(audit.ActionManagementKeyCreated, k)
		entry.Details = map[string]any{"scopes": scopeWords(k), "expires": expiryWords(k.ExpiresAt)}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		var verr input.ValidationError
		if errors.As(err, &verr) || errors.Is(err, ErrLimitReached) || errors.Is(err, database.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("managementkeys: unable to create management key: %w", err)
	}
	return created, nil
}

// List lists a program's live (not revoked) management keys, oldest first.
func (s *Store) List(ctx context.Context, programID int64) ([]Key, error) {
	var out []Key
	err := s.db.WithContext(ctx).Where("program_id = ? AND revoked_at IS NULL", programID).Order("created_at, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("managementkeys: unable to list management keys: %w", err)
	}
	return out, nil
}

// ByID loads a live management key through its program: another
// program's id, or a revoked key, is database.ErrNotFound.
func (s *Store) ByID(ctx context.Context, programID, id int64) (*Key, error) {
	return keyByID(s.db.WithContext(ctx), programID, id)
}

func keyByID(tx *gorm.DB, programID, id int64) (*Key, error) {
	var k Key
	err := tx.Where("program_id = ? AND id = ? AND revoked_at IS NULL", programID, id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, database.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("managementkeys: unable to load management key: %w", err)
	}
	return &k, nil
}

// Revoke ends a management key at once: its digest is announced inside the
// transaction (every instance's verifier forgets it when this commits) and
// management_key.revoked is appended in the same transaction.
func (s *Store) Revoke(ctx context.Context, programID int64, actor audit.Actor, id int64) (*Key, error) {
	var revoked *Key
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var locked []int64
		if err := tx.Raw(`SELECT id FROM management_keys WHERE program_id = ? AND id = ?`+database.ForUpdate(tx), programID, id).Scan(&locked).Error; err != nil {
			return err
		}
		k, err := keyByID(tx, programID, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		k.RevokedAt = &now
		if err := tx.Exec(`UPDATE management_keys SET revoked_at = ? WHERE id = ?`, now, k.ID).Error; err != nil {
			return err
		}
		if err := s.revocations.Announce(tx, k.Digest); err != nil {
			return err
		}
		revoked = k
		entry := keyAudit(audit.ActionManagementKeyRevoked, k)
		entry.Details = map[string]any{"reason": "revoked by an admin"}
		return s.audit.Append(tx, programID, actor, entry)
	})
	if err != nil {
		if errors.Is(err, database.ErrNotFound) {
			return nil, err
		}
		return nil, fmt.Errorf("managementkeys: unable to revoke management key: %w", err)
	}
	return revoked, nil
}

// Credential is a management key joined with its program, as the verifier
// loads it.
type Credential struct {
	ID          int64
	ProgramID   int64
	Identifier  string
	Name        string
	Scopes      string
	Digest      []byte
	ExpiresAt   *time.Time
	RevokedAt   *time.Time
	PartnerID   string
	ProgramName string
}

// CredentialByDigest finds the management key whose digest is digest
// (revoked ones included, for the verifier to refuse); nil when none.
func (s *Store) CredentialByDigest(ctx context.Context, digest []byte) (*Credential, error) {
	var rows []Credential
	err := s.db.WithContext(ctx).Raw(`SELECT m.id, m.program_id, m.identifier, m.name, m.scopes, m.digest, m.expires_at, m.revoked_at,
	p.partner_id, p.name AS program_name
FROM management_keys m JOIN programs p ON p.id = m.program_id
WHERE m.digest = ? LIMIT 1`, digest).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("managementkeys: unable to load management key: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// RecordLastUsed moves each key's "last used" time forward (never back),
// in one transaction, in id order.
func (s *Store) RecordLastUsed(ctx context.Context, lastUsed map[int64]time.Time) error {
	ids := make([]int64, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, id := range ids {
			at := lastUsed[id]
			if err := tx.Exec(`UPDATE management_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, at, id, at).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("managementkeys: unable to record management key use: %w", err)
	}
	return nil
}
