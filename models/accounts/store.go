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
	// sealer seals TOTP secrets at rest (SetSealer).
	sealer SecretSealer
	// outbox, when set, receives the notifiable team events (notify.go).
	outbox *outbox.Store
}

// NewStore builds the accounts store; events go to auditStore.
func NewStore(db *gorm.DB, auditStore *audit.Store, now database.Clock) *Store {
	return &Store{db: db, audit: auditStore, now: now}
}
