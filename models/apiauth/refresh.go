package apiauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"keydesk/models/keys"
)

// refreshBatch is how many keys one refresh query reads.
const refreshBatch = 100

// RefreshInterval is how often Refresh should run: often enough that an
// entry in use is refreshed before it expires.
func (v *Verifier) RefreshInterval() time.Duration { return v.opts.TTL / 4 }

// Refresh reloads, refreshBatch keys per query, the cached keys that were
// used since they were loaded and are past half their TTL. A key in use
// then never waits for the database when its entry would expire, and n
// keys in use cost n/refreshBatch queries per TTL rather than n. The TTL
// stays the backstop it was: every entry is read from the database again
// within one TTL, or expires. Keys unused since their load are left to
// expire. A batch read before an invalidation is dropped, as a load is;
// its keys load on demand again.
func (v *Verifier) Refresh(ctx context.Context) error {
	due := v.dueForRefresh()
	for start := 0; start < len(due); start += refreshBatch {
		batch := due[start:min(start+refreshBatch, len(due))]
		gen := v.generation()
		digests := make([][]byte, len(batch))
		for i := range batch {
			digests[i] = batch[i][:]
		}
		creds, err := v.store.CredentialsByDigests(ctx, digests)
		if err != nil {
			return fmt.Errorf("verifier: unable to refresh API keys: %w", err)
		}
		v.rememberRefresh(gen, batch, creds)
	}
	return nil
}

// dueForRefresh lists the digests of the positive entries used since
// their load and past half their TTL.
func (v *Verifier) dueForRefresh() [][32]byte {
	now := v.now()
	v.mu.RLock()
	defer v.mu.RUnlock()
	if !v.caching {
		return nil
	}
	var due [][32]byte
	for d, e := range v.positive {
		if e.key.used.Load() && e.expires.Sub(now) < v.opts.TTL/2 {
			due = append(due, d)
		}
	}
	return due
}

func (v *Verifier) generation() uint64 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.gen
}

// rememberRefresh replaces the entries of batch with what the database
// holds now, unless an invalidation happened since gen was read. A key no
// longer active (or gone) loses its entry: its next call loads it.
func (v *Verifier) rememberRefresh(gen uint64, batch [][32]byte, creds []keys.Credential) {
	byDigest := make(map[[32]byte]*keys.Credential, 2*len(creds))
	for i := range creds {
		c := &creds[i]
		for _, d := range [][]byte{c.Digest, c.OldDigest} {
			if len(d) == sha256.Size {
				byDigest[[32]byte(d)] = c
			}
		}
	}
	now := v.now()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.caching || v.gen != gen {
		return
	}
	for _, d := range batch {
		if _, ok := v.positive[d]; !ok {
			continue // evicted meanwhile
		}
		k := verifiedKey(byDigest[d], d[:])
		if k == nil {
			delete(v.positive, d)
			continue
		}
		v.positive[d] = positiveEntry{key: k, expires: now.Add(v.opts.TTL)}
	}
}
