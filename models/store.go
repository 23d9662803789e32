package models

import (
	"time"

	"gorm.io/gorm"
)

// Store is keydesk's domain over one database.
type Store struct {
	db      *gorm.DB
	keyring *Keyring
	// onKeyRevoked runs inside the transaction that inactivates or deletes a
	// key, so that caches everywhere learn of it when (and only if) it commits.
	onKeyRevoked func(tx *gorm.DB, digest []byte) error
	now          func() time.Time
}

// NewStore wraps an opened, migrated database.
func NewStore(db *gorm.DB, keyring *Keyring) *Store {
	return &Store{
		db:           db,
		keyring:      keyring,
		onKeyRevoked: func(*gorm.DB, []byte) error { return nil },
		now:          func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
}

// DB exposes the database for health checks and tests.
func (s *Store) DB() *gorm.DB { return s.db }

// Keyring returns the master keys in use.
func (s *Store) Keyring() *Keyring { return s.keyring }

// SetRevocationHook installs fn to run in every transaction that revokes a key.
func (s *Store) SetRevocationHook(fn func(tx *gorm.DB, digest []byte) error) {
	s.onKeyRevoked = fn
}

// SetClock replaces the clock (tests).
func (s *Store) SetClock(now func() time.Time) {
	s.now = func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}

// Now is the store's clock, in UTC at microsecond precision (what both
// databases keep).
func (s *Store) Now() time.Time { return s.now() }

// Actor says who does something and from where; it goes into audit events.
type Actor struct {
	AdminID   int64
	Email     string
	IP        string
	UserAgent string
	RequestID string
}
