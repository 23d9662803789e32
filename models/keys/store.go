// Package keys holds programs' API keys: their format, sealing at rest under
// the master keyring, the actions admins take on them (generate, reveal,
// edit, inactivate, delete), a program created with its default key, the
// lookups the API verifier makes and master-key rotation.
package keys

import (
	"context"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/outbox"
)

// Store reads and changes API keys.
type Store struct {
	db          *gorm.DB
	audit       *audit.Store
	keyring     *Keyring
	revocations *Revocations
	now         database.Clock
	outbox      *outbox.Store
}

// NewStore builds the keys store. Revocations are announced to revocations'
// subscribers inside the revoking transaction; the key actions' notifiable
// events are enqueued in outboxStore (notify.go).
func NewStore(db *gorm.DB, auditStore *audit.Store, outboxStore *outbox.Store, keyring *Keyring, revocations *Revocations, now database.Clock) *Store {
	return &Store{db: db, audit: auditStore, outbox: outboxStore, keyring: keyring, revocations: revocations, now: now}
}

// Keyring returns the master keys in use.
func (s *Store) Keyring() *Keyring { return s.keyring }

// AwaitWriters returns once the database's current writer has finished. On
// SQLite every keydesk transaction takes the write lock at BEGIN, so an
// empty transaction waits for exactly the commit or rollback in progress.
func (s *Store) AwaitWriters(ctx context.Context) error {
	return s.db.WithContext(ctx).Transaction(func(*gorm.DB) error { return nil })
}
