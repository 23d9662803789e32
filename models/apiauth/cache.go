package apiauth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"keydesk/models/database"
	"keydesk/models/keys"

	"gorm.io/gorm"
)

// Invalidate drops whatever the cache knows of the key with this digest,
// current or a roll's old one: every entry of that key goes, whichever of
// its digests it is cached under. The entry of the current digest carries
// the old sealed secret too (UI tokens signed with it are checked against
// that entry), so an announcement naming only the old digest, as older
// keydesk versions made when an overlap ended, still ends the old secret
// everywhere at once.
func (v *Verifier) Invalidate(digest []byte) {
	var d [32]byte
	copy(d[:], digest)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gen++
	delete(v.positive, d)
	delete(v.negative, d)
	for _, f := range v.followers {
		f.invalidate(d)
	}
	for cached, e := range v.positive {
		if c := e.key.credential; string(c.Digest) == string(d[:]) || string(c.OldDigest) == string(d[:]) {
			delete(v.positive, cached)
		}
	}
	// A roll changes the digest an identifier (a UI token's sub) leads to.
	for s, e := range v.subjects {
		if e.digest == d {
			delete(v.subjects, s)
		}
	}
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
	for _, f := range v.followers {
		f.invalidateAll()
	}
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
	for d, e := range v.negative {
		if !now.Before(e.expires) {
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

// RevocationHook returns the function to subscribe to keys.Revocations. It
// runs inside the transaction that inactivates (or activates) or deletes a
// key.
func (v *Verifier) RevocationHook() keys.RevocationHook {
	return func(tx *gorm.DB, digest []byte) error {
		v.Invalidate(digest)
		if database.IsPostgres(tx) {
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
		_ = v.store.AwaitWriters(context.Background())
		v.Invalidate(digest)
	}()
}

// WaitPending waits for the post-commit invalidations in flight.
func (v *Verifier) WaitPending() { v.pending.Wait() }

// verifiedKey is the credential as a VerifiedKey; nil when there is none or
// the key is inactive.
func verifiedKey(c *keys.Credential, digest []byte) *VerifiedKey {
	if c == nil || !c.Active {
		return nil
	}
	k := &VerifiedKey{
		KeyID:              c.ID,
		ProgramID:          c.ProgramID,
		PartnerID:          c.PartnerID,
		ProgramName:        c.ProgramName,
		Identifier:         c.Identifier,
		Name:               c.Name,
		IsDefault:          c.IsDefault,
		Quota:              c.Quota,
		QuotaPeriod:        c.QuotaPeriod,
		RateLimitPerMinute: c.RateLimitPerMinute,
		credential:         c,
	}
	applyLifecycle(k, c, digest)
	return k
}
