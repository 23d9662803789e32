package keys

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// Credential is an API key joined with its program, as the API verifier
// loads it to authenticate a call.
type Credential struct {
	ID          int64
	ProgramID   int64
	Identifier  string
	Name        string
	Digest      []byte
	Sealed      []byte
	KeyVersion  int64
	IsDefault   bool
	Active      bool
	PartnerID   string
	ProgramName string
	// The lifecycle: expiry, restrictions and a roll's old secret.
	ExpiresAt     *time.Time
	Restricted    bool
	Permissions   string
	AllowedIPs    string `gorm:"column:allowed_ips"`
	OldDigest     []byte
	OldSealed     []byte
	OldKeyVersion int64
	OldExpiresAt  *time.Time
	// Limits: the quota per period and the rate limit override.
	Quota              int64
	QuotaPeriod        string
	RateLimitPerMinute int
}

// CredentialByDigest finds the key whose digest, or whose old digest
// during a roll's overlap, is digest; nil when none. MatchedOld tells which.
func (s *Store) CredentialByDigest(ctx context.Context, digest []byte) (*Credential, error) {
	return s.credential(ctx, "(k.digest = ? OR k.old_digest = ?)", digest, digest)
}

// MatchedOld reports whether digest is the credential's old secret (a
// roll's, during the overlap) rather than its current one.
func (c *Credential) MatchedOld(digest []byte) bool {
	return c.OldDigest != nil && string(c.OldDigest) == string(digest) && string(c.Digest) != string(digest)
}

// UnsealOld opens the credential's old sealed key (a roll's, during the
// overlap); "" when it has none.
func (s *Store) UnsealOld(c *Credential) (string, error) {
	if c.OldSealed == nil {
		return "", nil
	}
	return s.keyring.Open(c.ID, c.OldSealed, c.OldKeyVersion)
}

// CredentialBySubject finds the key of the program named by partnerID that
// a UI token's sub names: the key with that identifier, or the program's
// default key when sub is empty; nil when none.
func (s *Store) CredentialBySubject(ctx context.Context, partnerID, sub string) (*Credential, error) {
	if sub == "" {
		return s.credential(ctx, "p.partner_id = ? AND k.is_default = ?", partnerID, true)
	}
	return s.credential(ctx, "p.partner_id = ? AND k.identifier = ?", partnerID, sub)
}

func (s *Store) credential(ctx context.Context, where string, args ...any) (*Credential, error) {
	rows, err := s.credentials(ctx, where+" LIMIT 1", args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// CredentialsByDigests finds the keys whose digest, or whose old digest
// during a roll's overlap, is one of digests: the verifier's batched
// refresh of its cache.
func (s *Store) CredentialsByDigests(ctx context.Context, digests [][]byte) ([]Credential, error) {
	if len(digests) == 0 {
		return nil, nil
	}
	return s.credentials(ctx, "k.digest IN ? OR k.old_digest IN ?", digests, digests)
}

func (s *Store) credentials(ctx context.Context, where string, args ...any) ([]Credential, error) {
	var rows []Credential
	err := s.db.WithContext(ctx).Raw(`SELECT k.id, k.program_id, k.identifier, k.name, k.digest, k.sealed, k.key_version, k.is_default, k.active,
	k.expires_at, k.restricted, k.permissions, k.allowed_ips, k.old_digest, k.old_sealed, k.old_key_version, k.old_expires_at,
	k.quota, k.quota_period, k.rate_limit_per_minute,
	p.partner_id, p.name AS program_name
FROM api_keys k JOIN programs p ON p.id = k.program_id
WHERE `+where, args...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("keys: unable to load API keys: %w", err)
	}
	return rows, nil
}

// Unseal opens a credential's sealed key, to check a UI token's signature.
func (s *Store) Unseal(c *Credential) (string, error) {
	return s.keyring.Open(c.ID, c.Sealed, c.KeyVersion)
}

// lastUsedBatch is how many keys one last-used statement moves.
const lastUsedBatch = 100

// RecordLastUsed moves each key's "last used" time forward to the time given
// (never back), in one transaction, lastUsedBatch keys per statement in id
// order, so that two instances flushing at once cannot deadlock.
func (s *Store) RecordLastUsed(ctx context.Context, lastUsed map[int64]time.Time) error {
	ids := make([]int64, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(ids); start += lastUsedBatch {
			if err := recordLastUsed(tx, ids[start:min(start+lastUsedBatch, len(ids))], lastUsed); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("keys: unable to record API key use: %w", err)
	}
	return nil
}

// recordLastUsed moves the last-used times of ids (sorted) forward in one
// UPDATE … FROM (VALUES …). Such an UPDATE locks its rows in no set
// order, so on PostgreSQL the rows are locked first, in id order: two
// instances flushing overlapping keys then wait for each other rather
// than deadlock. (SQLite has one writer at a time.)
func recordLastUsed(tx *gorm.DB, ids []int64, lastUsed map[int64]time.Time) error {
	row := "(?, ?)"
	if database.IsPostgres(tx) {
		row = "(CAST(? AS BIGINT), CAST(? AS TIMESTAMPTZ))"
		if err := tx.Exec(`SELECT id FROM api_keys WHERE id IN ? ORDER BY id FOR UPDATE`, ids).Error; err != nil {
			return err
		}
	}
	args := make([]any, 0, 2*len(ids))
	for _, id := range ids {
		args = append(args, id, lastUsed[id])
	}
	values := strings.TrimSuffix(strings.Repeat(row+", ", len(ids)), ", ")
	return tx.Exec(`UPDATE api_keys SET last_used_at = v.column2 FROM (VALUES `+values+`) AS v
WHERE api_keys.id = v.column1 AND (api_keys.last_used_at IS NULL OR api_keys.last_used_at < v.column2)`, args...).Error
}
