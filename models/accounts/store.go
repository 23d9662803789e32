// Package accounts holds who may use the console: programs (the tenants),
// admins with their memberships, and signing in and re-authenticating with
// a password, throttled and audited.
package accounts

import (
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/outbox"
)

// Store reads and changes programs, admins and memberships.
type Store struct {
	db    *gorm.DB
	audit *audit.Store
	now   database.Clock
	// sealer seals TOTP secrets at rest (totp_sealing.go).
	sealer SecretSealer
	// outbox receives the notifiable team events (notify.go).
	outbox *outbox.Store
}

// NewStore builds the accounts store; events go to auditStore, the
// notifiable team events (invitations, removals) to outboxStore, and
// sealer seals authenticator apps' secrets at rest. The outbox imports
// nothing of accounts, so the dependency runs one way.
func NewStore(db *gorm.DB, auditStore *audit.Store, outboxStore *outbox.Store, sealer SecretSealer, now database.Clock) *Store {
	return &Store{db: db, audit: auditStore, outbox: outboxStore, sealer: sealer, now: now}
}
