// Package models assembles keydesk's domain over one database. Its
// sub-packages import one way, bottom up:
//
//	database   open SQLite/PostgreSQL, dialect helpers, the clock, ErrNotFound
//	input      ValidationError, email normalisation, the text sanitiser
//	migrations versioned schema changes
//	audit      the tamper-evident trail: append, verify, query, CSV
//	accounts   programs, admins, memberships, sign-in and re-authentication
//	sessions   the console's sessions table behind gorilla/sessions
//	outbox     events that leave keydesk: outbox, webhook endpoints, deliveries
//	keys       API keys: format, sealing, actions, program creation, rotation
//	members    loyalty members the REST and UI API serve
//	managementkeys  the management API's keys (kdm_…) and idempotency records
//	apiauth    the API's verifier: cache, revocation listener, UI tokens,
//	           rate limits and batched "last used"
//
// Stores bundles the stores one server (or command) works with.
package models

import (
	"context"
	"fmt"
	"time"

	gsessions "github.com/gorilla/sessions"
	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/members"
	"keydesk/models/outbox"
	"keydesk/models/sessions"
	"keydesk/models/usage"
)

// Stores are the domain stores over one database, sharing one clock.
type Stores struct {
	Clock       database.Clock
	Audit       *audit.Store
	Accounts    *accounts.Store
	Keys        *keys.Store
	Members     *members.Store
	Revocations *keys.Revocations
	// Outbox holds events that leave keydesk: webhook endpoints and deliveries.
	Outbox *outbox.Store
	Usage  *usage.Store
	// ManagementKeys are the management API's keys (kdm_…).
	ManagementKeys *managementkeys.Store

	db *gorm.DB
}

// New builds the stores over an opened, migrated database, each given the
// stores it works with: key and team actions enqueue their notices in the
// outbox, and the accounts seal authenticator secrets under a key derived
// from the master keys. outboxOptions say whether email notices are on and
// webhooks may target private addresses (web.OutboxOptions reads them from
// the configuration; commands that send nothing pass the zero value).
func New(db *gorm.DB, keyring *keys.Keyring, clock database.Clock, outboxOptions outbox.Options) (*Stores, error) {
	totpSealer, err := keyring.DeriveSealer("totp secret")
	if err != nil {
		return nil, fmt.Errorf("models: unable to derive the TOTP sealing key: %w", err)
	}
	auditStore := audit.NewStore(db, keyring.AuditKeys(), clock)
	revocations := &keys.Revocations{}
	outboxStore := outbox.NewStore(db, auditStore, keyring, clock, outboxOptions)
	return &Stores{
		Clock:       clock,
		Audit:       auditStore,
		Outbox:      outboxStore,
		Accounts:    accounts.NewStore(db, auditStore, outboxStore, totpSealer, clock),
		Keys:        keys.NewStore(db, auditStore, outboxStore, keyring, revocations, clock),
		Members:     members.NewStore(db, auditStore, clock),
		Revocations: revocations,
		Usage:       usage.NewStore(db, clock),
		db:          db,

		ManagementKeys: managementkeys.NewStore(db, auditStore, outboxStore, keyring, revocations, clock),
	}, nil
}

// NewSessionStore builds the console's session store over the database.
func (s *Stores) NewSessionStore(options gsessions.Options, hashKey, blockKey []byte) *sessions.Store {
	return sessions.NewStore(s.db, s.Clock, options, hashKey, blockKey)
}

// Ping checks that the database answers within timeout.
func (s *Stores) Ping(ctx context.Context, timeout time.Duration) error {
	return database.Ping(ctx, s.db, timeout)
}

// PostgresURL is the database's connection URL on PostgreSQL (for a
// dedicated LISTEN connection); ok is false on SQLite.
func (s *Stores) PostgresURL() (url string, ok bool) { return database.PostgresURL(s.db) }

// Close closes the database's connections.
func (s *Stores) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}
