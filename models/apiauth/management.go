package apiauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/metrics"
)

// VerifiedManagementKey is what the management API knows of the management
// key that authenticated a call.
type VerifiedManagementKey struct {
	ID          int64
	ProgramID   int64
	PartnerID   string
	ProgramName string
	Identifier  string
	Name        string
	// ExpiresAt is when the key stops working; zero: never. Checked on
	// every call, cached or not.
	ExpiresAt time.Time
	scopes    []managementkeys.Scope
}

// HasScope reports whether the key holds s.
func (k *VerifiedManagementKey) HasScope(s managementkeys.Scope) bool {
	return slices.Contains(k.scopes, s)
}

type managementEntry struct {
	key     *VerifiedManagementKey // nil: unknown or revoked
	expires time.Time
}

// ManagementVerifier authenticates management API calls by the SHA-256
// digest of their management key, with an in-memory cache (positive and
// short negative entries, with a TTL) like the API key verifier's, and
// "last used" times kept in memory and flushed in batches.
//
// Revocation: a management key's revocation is announced through the same
// revocations as an API key's (the parent verifier's hook, NOTIFY on
// PostgreSQL), and this cache follows the parent: it forgets a digest the
// parent is told to forget, empties when the parent flushes, and is used
// only while the parent's cache is (on PostgreSQL, while the revocation
// listener listens). A load that started before an invalidation is never
// cached.
type ManagementVerifier struct {
	store  *managementkeys.Store
	parent *Verifier
	now    database.Clock

	mu       sync.Mutex
	gen      uint64
	entries  map[[32]byte]managementEntry
	lastUsed map[int64]time.Time
}

// NewManagementVerifier builds a verifier over store that follows parent's
// invalidations and caching state.
func NewManagementVerifier(store *managementkeys.Store, parent *Verifier, now database.Clock) *ManagementVerifier {
	m := &ManagementVerifier{store: store, parent: parent, now: now, entries: map[[32]byte]managementEntry{}, lastUsed: map[int64]time.Time{}}
	parent.mu.Lock()
	parent.followers = append(parent.followers, m)
	parent.mu.Unlock()
	return m
}

func (m *ManagementVerifier) invalidate(d [32]byte) {
	m.mu.Lock()
	m.gen++
	delete(m.entries, d)
	m.mu.Unlock()
}

func (m *ManagementVerifier) invalidateAll() {
	m.mu.Lock()
	m.gen++
	clear(m.entries)
	m.mu.Unlock()
}

// Verify authenticates a management key. Anything wrong (malformed,
// unknown, revoked, expired) is an *AuthFailure, ErrUnauthorized to
// errors.Is; a malformed key is refused before any lookup.
func (m *ManagementVerifier) Verify(ctx context.Context, secret string) (*VerifiedManagementKey, error) {
	if len(secret) != managementkeys.KeyLength || !strings.HasPrefix(secret, keys.ManagementKeyPrefix) {
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
	}
	d := sha256.Sum256([]byte(secret))
	now := m.now()
	caching := m.parent.CachingEnabled()
	m.mu.Lock()
	e, hit := m.entries[d]
	hit = hit && caching && now.Before(e.expires)
	gen := m.gen
	m.mu.Unlock()
	k := e.key
	if !hit {
		if managementkeys.CheckFormat(secret) != nil {
			return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
		}
		c, err := m.store.CredentialByDigest(ctx, d[:])
		if err != nil {
			return nil, fmt.Errorf("verifier: unable to load management key: %w", err)
		}
		k = verifiedManagementKey(c)
		ttl := m.parent.opts.TTL
		if k == nil {
			ttl = m.parent.opts.NegativeTTL
		}
		m.mu.Lock()
		if caching && m.gen == gen {
			if len(m.entries) >= m.parent.opts.MaxEntries {
				evict(m.entries, now, func(e managementEntry) time.Time { return e.expires })
			}
			m.entries[d] = managementEntry{key: k, expires: now.Add(ttl)}
		}
		m.mu.Unlock()
	}
	if k == nil {
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
	}
	if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
		return nil, &AuthFailure{Outcome: metrics.OutcomeExpired}
	}
	m.mu.Lock()
	if now.After(m.lastUsed[k.ID]) {
		m.lastUsed[k.ID] = now
	}
	m.mu.Unlock()
	return k, nil
}

func verifiedManagementKey(c *managementkeys.Credential) *VerifiedManagementKey {
	if c == nil || c.RevokedAt != nil {
		return nil
	}
	k := &VerifiedManagementKey{ID: c.ID, ProgramID: c.ProgramID, PartnerID: c.PartnerID, ProgramName: c.ProgramName, Identifier: c.Identifier, Name: c.Name}
	if c.ExpiresAt != nil {
		k.ExpiresAt = *c.ExpiresAt
	}
	for _, s := range strings.Fields(c.Scopes) {
		k.scopes = append(k.scopes, managementkeys.Scope(s))
	}
	return k
}

// Sweep removes expired cache entries.
func (m *ManagementVerifier) Sweep() {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for d, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, d)
		}
	}
}

// FlushLastUsed writes the "last used" times noted since the previous
// flush; on failure they are kept for the next one.
func (m *ManagementVerifier) FlushLastUsed(ctx context.Context) error {
	m.mu.Lock()
	batch := m.lastUsed
	m.lastUsed = map[int64]time.Time{}
	m.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := m.store.RecordLastUsed(ctx, batch); err != nil {
		m.mu.Lock()
		for id, t := range batch {
			if t.After(m.lastUsed[id]) {
				m.lastUsed[id] = t
			}
		}
		m.mu.Unlock()
		return err
	}
	return nil
}
