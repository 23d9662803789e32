// Package apiauth authenticates calls to the JSON API: the verifier with its
// in-memory cache of keys (positive and negative entries), the PostgreSQL
// revocation listener, UI tokens (JWT), per-key rate limits, the per-address
// limit on failed authentications and batched "last used" times.
package apiauth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/models/metrics"

	"golang.org/x/sync/singleflight"
)

// ErrUnauthorized is the one answer to a credential that does not
// authenticate: missing, malformed, unknown, inactive, deleted, another
// program's, badly signed or expired. Callers never learn which.
var ErrUnauthorized = errors.New("unauthorized")

// RevocationChannel is the PostgreSQL NOTIFY channel on which a revoked
// key's hex digest is announced to every instance.
const RevocationChannel = "keydesk_key_revoked"

// VerifiedKey is what the API knows of an authenticated caller's key.
type VerifiedKey struct {
	KeyID       int64
	ProgramID   int64
	PartnerID   string
	ProgramName string
	Identifier  string
	Name        string
	IsDefault   bool
	// ExpiresAt is when the secret that authenticated stops working (the
	// key's expiry, or a roll's overlap end for the old secret); zero:
	// never. Checked on every call, cached or not.
	ExpiresAt time.Time
	// Restricted keys may do only what perms holds; allowed, when not
	// empty, lists the addresses an api-key call may come from.
	Restricted bool
	// Quota is requests per QuotaPeriod (0: none); RateLimitPerMinute
	// overrides the default read and write limits (0: the defaults).
	Quota              int64
	QuotaPeriod        string
	RateLimitPerMinute int
	perms              permSet
	allowed            []netip.Prefix
	// used is set by the first cache hit: Refresh reloads only entries
	// in use.
	used atomic.Bool
	// lastNoted is when the usage recorder last heard of this key (unix
	// nanoseconds).
	lastNoted atomic.Int64
	// oldSecret: the credential is a roll's old secret (ExpiresAt is the
	// overlap's end).
	oldSecret bool
	// quotaLease is the key's lease in the quota enforcer that last spent
	// from it, so that a call finds it without a map lookup.
	quotaLease atomic.Pointer[quotaLease]

	credential *keys.Credential
}

// VerifierOptions tune the verification cache.
type VerifierOptions struct {
	// TTL bounds how long a verified key is trusted without asking the
	// database: the backstop should a revocation notice be lost.
	TTL time.Duration
	// NegativeTTL bounds how long an unknown or inactive key is remembered.
	NegativeTTL time.Duration
	// MaxEntries bounds each of the cache's maps.
	MaxEntries int
	// UITokenMaxLifetime is how far ahead a UI token's exp may lie
	// (KEYDESK_JWT_MAX_LIFETIME); DefaultUITokenMaxLifetime when zero.
	UITokenMaxLifetime time.Duration
	// Caching starts the cache enabled. With PostgreSQL it starts disabled
	// and the revocation listener enables it once it is listening.
	Caching bool
}

// DefaultVerifierOptions are the production settings.
func DefaultVerifierOptions() VerifierOptions {
	return VerifierOptions{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second, MaxEntries: 10000, UITokenMaxLifetime: DefaultUITokenMaxLifetime, Caching: true}
}

type positiveEntry struct {
	key     *VerifiedKey
	expires time.Time
}

type subjectKey struct {
	partnerID, identifier string
}

type subjectEntry struct {
	digest  [32]byte
	found   bool
	expires time.Time
}

// Verifier authenticates API calls: an API key by its SHA-256 digest, a UI
// token by the key its sub names. Verified keys are cached in memory
// (positive and short negative entries, bounded, with a TTL); the database
// is asked only on a miss and never written on the request path: use is
// recorded in memory and flushed in batches by the UsageRecorder.
//
// Revocation: the store calls the hook from RevocationHook inside the
// transaction that inactivates or deletes a key. Every invalidation bumps a
// generation counter, and a load that started before an invalidation is
// never cached, so a read of the pre-commit state cannot be cached after
// the invalidation that follows the commit. On PostgreSQL that post-commit
// invalidation is the NOTIFY (see Listen); on SQLite a goroutine waits for
// the revoking transaction to release the write lock, then invalidates.
type Verifier struct {
	store *keys.Store
	opts  VerifierOptions
	usage *UsageRecorder
	now   database.Clock
	loads singleflight.Group

	mu       sync.RWMutex
	gen      uint64
	caching  bool
	positive map[[32]byte]positiveEntry
	negative map[[32]byte]negativeEntry
	subjects map[subjectKey]subjectEntry
	// followers are caches of other secrets (management keys) that
	// forget what this cache forgets: a revocation announcement, a flush,
	// caching turned off or on. Guarded by mu.
	followers []follower

	pending sync.WaitGroup
}

// follower is a cache that follows the verifier's invalidations; its
// methods run with the verifier's mu held and must not take it.
type follower interface {
	invalidate(d [32]byte)
	invalidateAll()
}

// NewVerifier builds a verifier over store; usage may be nil.
func NewVerifier(store *keys.Store, usage *UsageRecorder, opts VerifierOptions, now database.Clock) *Verifier {
	d := DefaultVerifierOptions()
	if opts.TTL <= 0 {
		opts.TTL = d.TTL
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = min(d.NegativeTTL, opts.TTL)
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = d.MaxEntries
	}
	if opts.UITokenMaxLifetime <= 0 {
		opts.UITokenMaxLifetime = d.UITokenMaxLifetime
	}
	return &Verifier{
		store:    store,
		opts:     opts,
		usage:    usage,
		now:      now,
		caching:  opts.Caching,
		positive: map[[32]byte]positiveEntry{},
		negative: map[[32]byte]negativeEntry{},
		subjects: map[subjectKey]subjectEntry{},
	}
}

// VerifyAPIKey authenticates a REST call by its partner-id and api-key
// headers. A malformed key or partner ID is refused before any database
// lookup. The key's length is checked before it is hashed; the rest of
// its format (alphabet, checksum) only when the cache does not hold it,
// since a cached key is a stored, well-formed one.
func (v *Verifier) VerifyAPIKey(ctx context.Context, partnerID, key string) (*VerifiedKey, error) {
	if !keys.IsPartnerID(partnerID) || len(key) != keys.KeyLength {
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
	}
	d := keys.DigestOf(key)
	k := v.cached(d)
	var inactive *keyRef
	if k == nil {
		if keys.CheckKeyFormat(key) != nil {
			return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
		}
		var err error
		if k, inactive, err = v.lookupUncached(ctx, d); err != nil {
			return nil, err
		}
	}
	switch {
	case k != nil && k.PartnerID != partnerID:
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid, KeyID: k.KeyID, ProgramID: k.ProgramID}
	case k == nil && inactive != nil && inactive.partnerID == partnerID && inactive.retired:
		return nil, &AuthFailure{Outcome: metrics.OutcomeExpired, KeyID: inactive.keyID, ProgramID: inactive.programID, OldSecret: true}
	case k == nil && inactive != nil && inactive.partnerID == partnerID:
		return nil, &AuthFailure{Outcome: metrics.OutcomeInactive, KeyID: inactive.keyID, ProgramID: inactive.programID}
	case k == nil && inactive != nil:
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid, KeyID: inactive.keyID, ProgramID: inactive.programID}
	case k == nil:
		return nil, &AuthFailure{Outcome: metrics.OutcomeInvalid}
	}
	now := v.now()
	if k.expiredAt(now) {
		return nil, expiredFailure(k)
	}
	v.recordUse(k, now)
	return k, nil
}

// recordUse notes that k was used at now. "Last used" is written about
// once a minute, so a key already noted less than a second before is not
// noted again: busy keys skip the recorder's lock.
func (v *Verifier) recordUse(k *VerifiedKey, now time.Time) {
	if v.usage == nil {
		return
	}
	at := now.UnixNano()
	if last := k.lastNoted.Load(); last <= at && at-last < int64(time.Second) {
		return
	}
	k.lastNoted.Store(at)
	v.usage.RecordAt(k.KeyID, now)
}

// byDigest returns the active key with this digest, or nil.
func (v *Verifier) byDigest(ctx context.Context, d [32]byte) (*VerifiedKey, error) {
	k, _, err := v.lookupDigest(ctx, d)
	return k, err
}

// lookupResult is a load's outcome: the active key, or the inactive key
// that has the digest (for counting), or neither.
type lookupResult struct {
	key      *VerifiedKey
	inactive *keyRef
}

// cached returns the active key with this digest if the cache holds it.
func (v *Verifier) cached(d [32]byte) *VerifiedKey {
	now := v.now()
	v.mu.RLock()
	e, ok := v.positive[d]
	ok = ok && v.caching && now.Before(e.expires)
	v.mu.RUnlock()
	if !ok {
		return nil
	}
	if !e.key.used.Load() {
		e.key.used.Store(true)
	}
	metrics.CacheHits.Inc()
	return e.key
}

// lookupDigest returns the active key with this digest; when there is
// none, the inactive (or deleted-but-present) key that has it, if any.
func (v *Verifier) lookupDigest(ctx context.Context, d [32]byte) (*VerifiedKey, *keyRef, error) {
	if k := v.cached(d); k != nil {
		return k, nil, nil
	}
	return v.lookupUncached(ctx, d)
}

// lookupUncached is lookupDigest for a digest the positive cache does not
// hold: the negative cache, else a load.
func (v *Verifier) lookupUncached(ctx context.Context, d [32]byte) (*VerifiedKey, *keyRef, error) {
	now := v.now()
	v.mu.RLock()
	if v.caching {
		if e, ok := v.negative[d]; ok && now.Before(e.expires) {
			v.mu.RUnlock()
			metrics.CacheHits.Inc()
			return nil, e.inactive, nil
		}
	}
	gen := v.gen
	v.mu.RUnlock()
	metrics.CacheMisses.Inc()
	return v.load(ctx, gen, d)
}

// load reads the key with digest d from the database and caches the
// result, unless an invalidation happened since gen was read.
func (v *Verifier) load(ctx context.Context, gen uint64, d [32]byte) (*VerifiedKey, *keyRef, error) {
	// Concurrent misses of one key share a load, but only within one
	// generation: a request that arrives after an invalidation never
	// receives a result read before it. The shared load outlives a caller
	// that gives up, so one cancelled request fails no other.
	loadCtx := context.WithoutCancel(ctx)
	res, err, _ := v.loads.Do(strconv.FormatUint(gen, 10)+":"+string(d[:]), func() (any, error) {
		c, err := v.store.CredentialByDigest(loadCtx, d[:])
		if err != nil {
			return nil, err
		}
		k := verifiedKey(c, d[:])
		r := lookupResult{key: k}
		if k == nil && c != nil {
			r.inactive = &keyRef{keyID: c.ID, programID: c.ProgramID, partnerID: c.PartnerID}
		}
		if c == nil {
			// Not a key's secret now: perhaps one that was, to count the
			// call against its key.
			old, err := v.store.RetiredSecretByDigest(loadCtx, d[:])
			if err != nil {
				return nil, err
			}
			if old != nil {
				r.inactive = &keyRef{keyID: old.KeyID, programID: old.ProgramID, partnerID: old.PartnerID, retired: true}
			}
		}
		v.rememberLookup(gen, d, r)
		return r, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("verifier: unable to load API key: %w", err)
	}
	r := res.(lookupResult)
	return r.key, r.inactive, nil
}

// remember caches k (nil: a negative entry) under d, unless an invalidation
// happened since gen was read.
func (v *Verifier) remember(gen uint64, d [32]byte, k *VerifiedKey) {
	v.rememberLookup(gen, d, lookupResult{key: k})
}

// rememberLookup caches a load's result under d, unless an invalidation
// happened since gen was read.
func (v *Verifier) rememberLookup(gen uint64, d [32]byte, r lookupResult) {
	k := r.key
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.caching || v.gen != gen {
		return
	}
	if k == nil {
		if len(v.negative) >= v.opts.MaxEntries {
			evict(v.negative, now, func(e negativeEntry) time.Time { return e.expires })
		}
		v.negative[d] = negativeEntry{expires: now.Add(v.opts.NegativeTTL), inactive: r.inactive}
		return
	}
	if len(v.positive) >= v.opts.MaxEntries {
		evict(v.positive, now, func(e positiveEntry) time.Time { return e.expires })
	}
	v.positive[d] = positiveEntry{key: k, expires: now.Add(v.opts.TTL)}
}

// evict makes room in a full map: expired entries first, then arbitrary
// ones (Go's map order) until an eighth of the map is free.
func evict[K comparable, V any](m map[K]V, now time.Time, expires func(V) time.Time) {
	for k, e := range m {
		if !now.Before(expires(e)) {
			delete(m, k)
		}
	}
	target := len(m) - len(m)/8
	if target == len(m) && len(m) > 0 {
		target--
	}
	for k := range m {
		if len(m) <= target {
			break
		}
		delete(m, k)
	}
}
