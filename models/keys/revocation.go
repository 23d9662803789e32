package keys

import (
	"sync"

	"gorm.io/gorm"
)

// RevocationHook runs inside the transaction that inactivates, activates or
// deletes a key, with the key's digest; an error rolls the change back.
type RevocationHook func(tx *gorm.DB, digest []byte) error

// Revocations passes each key revocation to its subscribers (the API
// verifier's cache of every server built over the store) inside the
// revoking transaction, so they learn of it when, and only if, it commits.
type Revocations struct {
	mu          sync.RWMutex
	subscribers []RevocationHook
}

// Subscribe adds hook to the revocation's subscribers.
func (r *Revocations) Subscribe(hook RevocationHook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subscribers = append(r.subscribers, hook)
}

func (r *Revocations) announce(tx *gorm.DB, digest []byte) error {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, hook := range r.subscribers {
		if err := hook(tx, digest); err != nil {
			return err
		}
	}
	return nil
}

// Announce passes the revocation of a secret other than an API key (a
// management key) with this digest to the subscribers, inside tx: every
// instance's verifier forgets it when, and only if, tx commits.
func (r *Revocations) Announce(tx *gorm.DB, digest []byte) error {
	return r.announce(tx, digest)
}
