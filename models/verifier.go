package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
	"gorm.io/gorm"
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

	sealed     []byte
	keyVersion int64
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
	// Caching starts the cache enabled. With PostgreSQL it starts disabled
	// and the revocation listener enables it once it is listening.
	Caching bool
}

// DefaultVerifierOptions are the production settings.
func DefaultVerifierOptions() VerifierOptions {
	return VerifierOptions{TTL: 30 * time.Second, NegativeTTL: 5 * time.Second, MaxEntries: 10000, Caching: true}
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
	store *Store
	opts  VerifierOptions
	usage *UsageRecorder
	now   func() time.Time
	loads singleflight.Group

	mu       sync.RWMutex
	gen      uint64
	caching  bool
	positive map[[32]byte]positiveEntry
	negative map[[32]byte]time.Time
	subjects map[subjectKey]subjectEntry

	pending sync.WaitGroup
}

// NewVerifier builds a verifier over store; usage may be nil.
func NewVerifier(store *Store, usage *UsageRecorder, opts VerifierOptions) *Verifier {
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
	return &Verifier{
		store:    store,
		opts:     opts,
		usage:    usage,
		now:      time.Now,
		caching:  opts.Caching,
		positive: map[[32]byte]positiveEntry{},
		negative: map[[32]byte]time.Time{},
		subjects: map[subjectKey]subjectEntry{},
	}
}

// VerifyAPIKey authenticates a REST call by its partner-id and api-key
// headers. A malformed key or partner ID is refused before any lookup.
func (v *Verifier) VerifyAPIKey(partnerID, key string) (*VerifiedKey, error) {
	if !IsPartnerID(partnerID) || CheckKeyFormat(key) != nil {
		return nil, ErrUnauthorized
	}
	k, err := v.byDigest(sha256.Sum256([]byte(key)))
	if err != nil {
		return nil, err
	}
	if k == nil || k.PartnerID != partnerID {
		return nil, ErrUnauthorized
	}
	v.recordUse(k)
	return k, nil
}

func (v *Verifier) recordUse(k *VerifiedKey) {
	if v.usage != nil {
		v.usage.Record(k.KeyID)
	}
}

// byDigest returns the active key with this digest, or nil.
func (v *Verifier) byDigest(d [32]byte) (*VerifiedKey, error) {
	now := v.now()
	v.mu.RLock()
	if v.caching {
		if e, ok := v.positive[d]; ok && now.Before(e.expires) {
			v.mu.RUnlock()
			return e.key, nil
		}
		if exp, ok := v.negative[d]; ok && now.Before(exp) {
			v.mu.RUnlock()
			return nil, nil
		}
	}
	gen := v.gen
	v.mu.RUnlock()

	// Concurrent misses of one key share a load, but only within one
	// generation: a request that arrives after an invalidation never
	// receives a result read before it.
	res, err, _ := v.loads.Do(strconv.FormatUint(gen, 10)+":"+string(d[:]), func() (any, error) {
		row, err := v.store.loadKeyRow("k.digest = ?", d[:])
		if err != nil {
			return nil, err
		}
		k := row.verified()
		v.remember(gen, d, k)
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("verifier: unable to load API key: %w", err)
	}
	return res.(*VerifiedKey), nil
}

// remember caches k (nil: a negative entry) under d, unless an invalidation
// happened since gen was read.
func (v *Verifier) remember(gen uint64, d [32]byte, k *VerifiedKey) {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.caching || v.gen != gen {
		return
	}
	if k == nil {
		if len(v.negative) >= v.opts.MaxEntries {
			evict(v.negative, now, func(exp time.Time) time.Time { return exp })
		}
		v.negative[d] = now.Add(v.opts.NegativeTTL)
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

// Invalidate drops whatever the cache knows of the key with this digest.
func (v *Verifier) Invalidate(digest []byte) {
	var d [32]byte
	copy(d[:], digest)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	delete(v.positive, d)
	delete(v.negative, d)
}

// InvalidateHex is Invalidate for a digest announced in hex (the NOTIFY
// payload). A payload that is not a digest flushes the whole cache.
func (v *Verifier) InvalidateHex(payload string) {
	d, err := hex.DecodeString(payload)
	if err != nil || len(d) != sha256.Size {
		v.InvalidateAll()
		return
	}
	v.Invalidate(d)
}

// InvalidateAll empties the cache.
func (v *Verifier) InvalidateAll() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.flushLocked()
}

func (v *Verifier) flushLocked() {
	v.gen++
	clear(v.positive)
	clear(v.negative)
	clear(v.subjects)
}

// SetCaching turns the cache on or off, emptying it either way. Without a
// cache every verification asks the database: the safe mode while
// revocation notices cannot be received.
func (v *Verifier) SetCaching(enabled bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.caching = enabled
	v.flushLocked()
}

// CachingEnabled reports whether the cache is in use.
func (v *Verifier) CachingEnabled() bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.caching
}

// Sweep removes expired entries (the background loop calls it, so idle
// entries do not linger until the map is full).
func (v *Verifier) Sweep() {
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	for d, e := range v.positive {
		if !now.Before(e.expires) {
			delete(v.positive, d)
		}
	}
	for d, exp := range v.negative {
		if !now.Before(exp) {
			delete(v.negative, d)
		}
	}
	for s, e := range v.subjects {
		if !now.Before(e.expires) {
			delete(v.subjects, s)
		}
	}
}

// CacheSize reports the number of positive and negative entries (tests,
// metrics).
func (v *Verifier) CacheSize() (positive, negative int) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.positive), len(v.negative)
}

// RevocationHook returns the function to install with
// Store.SetRevocationHook. It runs inside the transaction that inactivates
// (or activates) or deletes a key.
func (v *Verifier) RevocationHook() func(tx *gorm.DB, digest []byte) error {
	return func(tx *gorm.DB, digest []byte) error {
		v.Invalidate(digest)
		if isPostgres(tx) {
			// Delivered to every listening instance, this one included, when
			// (and only if) the transaction commits.
			if err := tx.Exec(`SELECT pg_notify(?, ?)`, RevocationChannel, hex.EncodeToString(digest)).Error; err != nil {
				return fmt.Errorf("verifier: unable to announce revocation: %w", err)
			}
			return nil
		}
		v.invalidateAfterCommit(append([]byte(nil), digest...))
		return nil
	}
}

// invalidateAfterCommit invalidates digest again once the SQLite
// transaction that called the hook has ended. That transaction holds the
// database write lock (keydesk's SQLite transactions are immediate), so
// taking the lock ourselves waits for exactly its commit or rollback. A
// request that read the pre-commit row meanwhile may have cached it; this
// second invalidation removes it.
func (v *Verifier) invalidateAfterCommit(digest []byte) {
	v.pending.Add(1)
	go func() {
		defer v.pending.Done()
		_ = v.store.db.Transaction(func(*gorm.DB) error { return nil })
		v.Invalidate(digest)
	}()
}

// WaitPending waits for the post-commit invalidations in flight.
func (v *Verifier) WaitPending() { v.pending.Wait() }

// keyRow is an API key joined with its program, as the verifier loads it.
type keyRow struct {
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
}

// verified is the row as a VerifiedKey; nil when there is no row or the key
// is inactive.
func (r *keyRow) verified() *VerifiedKey {
	if r == nil || !r.Active {
		return nil
	}
	return &VerifiedKey{
		KeyID:       r.ID,
		ProgramID:   r.ProgramID,
		PartnerID:   r.PartnerID,
		ProgramName: r.ProgramName,
		Identifier:  r.Identifier,
		Name:        r.Name,
		IsDefault:   r.IsDefault,
		sealed:      r.Sealed,
		keyVersion:  r.KeyVersion,
	}
}

// loadKeyRow loads at most one key matching where; nil when none does.
func (s *Store) loadKeyRow(where string, args ...any) (*keyRow, error) {
	var rows []keyRow
	err := s.db.Raw(`SELECT k.id, k.program_id, k.identifier, k.name, k.digest, k.sealed, k.key_version, k.is_default, k.active,
	p.partner_id, p.name AS program_name
FROM api_keys k JOIN programs p ON p.id = k.program_id
WHERE `+where+` LIMIT 1`, args...).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// UI tokens (JWT) ---------------------------------------------------------

// UITokenLeeway is the clock skew allowed on a UI token's exp (and nbf).
const UITokenLeeway = 30 * time.Second

// maxUITokenLength refuses absurd tokens before parsing them.
const maxUITokenLength = 4096

// UIClaims are the claims of a UI API token: sub is the signing key's
// identifier (absent for the program's default key), member_id the member
// the token acts for.
type UIClaims struct {
	MemberID string `json:"member_id"`
	jwt.RegisteredClaims
}

// ParseUIToken verifies a UI token: HS256 only, signed with the key that
// keyFor returns for the token's sub, exp required (with UITokenLeeway),
// member_id a valid member id. Any failure is ErrUnauthorized, except an
// error of keyFor other than ErrUnauthorized, which is returned as is.
func ParseUIToken(token string, keyFor func(sub string) ([]byte, error), now func() time.Time) (*UIClaims, error) {
	if token == "" || len(token) > maxUITokenLength {
		return nil, ErrUnauthorized
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(UITokenLeeway),
		jwt.WithTimeFunc(now),
	)
	claims := &UIClaims{}
	var lookupErr error
	_, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		// The method is already checked (HS256); the claims are parsed but
		// not yet trusted: sub only selects which key must have signed.
		secret, err := keyFor(claims.Subject)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return secret, nil
	})
	if lookupErr != nil && !errors.Is(lookupErr, ErrUnauthorized) {
		return nil, lookupErr
	}
	if err != nil || !ValidMemberID(claims.MemberID) {
		return nil, ErrUnauthorized
	}
	return claims, nil
}

// VerifyUIToken authenticates a UI API call: the token's sub (or, without
// one, the program's default key) selects a key of the program named by
// partnerID, and the token must be signed with that key's string.
func (v *Verifier) VerifyUIToken(partnerID, token string) (*VerifiedKey, *UIClaims, error) {
	if !IsPartnerID(partnerID) {
		return nil, nil, ErrUnauthorized
	}
	var key *VerifiedKey
	claims, err := ParseUIToken(token, func(sub string) ([]byte, error) {
		k, err := v.bySubject(partnerID, sub)
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, ErrUnauthorized
		}
		secret, err := v.store.keyring.Open(k.KeyID, k.sealed, k.keyVersion)
		if err != nil {
			return nil, fmt.Errorf("verifier: unable to open API key %s: %w", k.Identifier, err)
		}
		key = k
		return []byte(secret), nil
	}, v.now)
	if err != nil {
		return nil, nil, err
	}
	v.recordUse(key)
	return key, claims, nil
}

// bySubject returns the active key of the program that sub names (the
// default key when sub is empty), or nil.
func (v *Verifier) bySubject(partnerID, sub string) (*VerifiedKey, error) {
	if sub != "" && !IsIdentifier(sub) {
		return nil, nil
	}
	sk := subjectKey{partnerID, sub}
	now := v.now()
	v.mu.RLock()
	e, ok := v.subjects[sk]
	hit := ok && v.caching && now.Before(e.expires)
	gen := v.gen
	v.mu.RUnlock()
	if hit {
		if !e.found {
			return nil, nil
		}
		return v.byDigest(e.digest)
	}

	// The identifier (or default flag) of a key never changes, so the
	// subject → digest mapping needs no invalidation: activity is checked
	// through the digest entry, which revocation does invalidate.
	var row *keyRow
	var err error
	if sub == "" {
		row, err = v.store.loadKeyRow("p.partner_id = ? AND k.is_default = ?", partnerID, true)
	} else {
		row, err = v.store.loadKeyRow("p.partner_id = ? AND k.identifier = ?", partnerID, sub)
	}
	if err != nil {
		return nil, fmt.Errorf("verifier: unable to load API key by identifier: %w", err)
	}
	entry := subjectEntry{found: row != nil}
	if row != nil {
		copy(entry.digest[:], row.Digest)
		entry.expires = now.Add(v.opts.TTL)
	} else {
		entry.expires = now.Add(v.opts.NegativeTTL)
	}
	v.mu.Lock()
	if v.caching && v.gen == gen {
		if len(v.subjects) >= v.opts.MaxEntries {
			evict(v.subjects, now, func(e subjectEntry) time.Time { return e.expires })
		}
		v.subjects[sk] = entry
	}
	v.mu.Unlock()
	if row == nil {
		return nil, nil
	}
	k := row.verified()
	v.remember(gen, entry.digest, k)
	return k, nil
}
