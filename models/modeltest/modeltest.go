// Package modeltest opens throwaway databases for tests: a temporary SQLite
// file always, and a fresh PostgreSQL schema when TEST_DATABASE_URL is set.
package modeltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"keydesk/models/database"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/migrations"
	"keydesk/models/outbox"
)

// Database names a database kind a test runs on.
type Database struct {
	Name string
	// URL is a DATABASE_URL that opens this database (another connection to
	// the same data, e.g. for a second server instance).
	URL string
}

// MasterKey is a fixed master key for tests.
var MasterKey = []byte("0123456789abcdef0123456789abcdef")

// Keyring is a keyring over MasterKey.
func Keyring(t testing.TB) *keys.Keyring {
	k, err := keys.NewKeyring(MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Each runs fn once on SQLite and once on PostgreSQL. PostgreSQL is skipped,
// saying why, when TEST_DATABASE_URL is unset, except under CI=true, where
// its absence fails the test.
func Each(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite returns a fresh SQLite database file, removed after the test.
func SQLite(t testing.TB) Database {
	path := filepath.Join(t.TempDir(), "keydesk.db")
	return Database{Name: "sqlite", URL: "sqlite:" + path}
}

// Postgres returns a fresh schema in the TEST_DATABASE_URL database, dropped
// after the test.
func Postgres(t testing.TB) Database {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_DATABASE_URL is not set, but CI=true requires the PostgreSQL tests")
		}
		t.Skip("PostgreSQL tests skipped: TEST_DATABASE_URL is not set")
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	schema := "t_" + hex.EncodeToString(suffix)
	admin, err := database.Open(base)
	if err != nil {
		t.Fatalf("open TEST_DATABASE_URL: %v", err)
	}
	if err := admin.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		if sqlDB, err := admin.DB(); err == nil {
			sqlDB.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return Database{Name: "postgres", URL: u.String()}
}

// Open opens and migrates db, closing it after the test.
func Open(t testing.TB, db Database) *gorm.DB {
	gdb := openUnmigrated(t, db)
	if _, err := migrations.Migrate(context.Background(), gdb); err != nil {
		t.Fatalf("migrate %s: %v", db.Name, err)
	}
	return gdb
}

// OpenBefore opens db migrated up to, not including, the migration with
// this description: the schema an upgrade starts from.
func OpenBefore(t testing.TB, db Database, migration string) *gorm.DB {
	t.Helper()
	gdb := openUnmigrated(t, db)
	before := migrations.VersionOf(migration) - 1
	if before <= 0 {
		t.Fatalf("no migration %q", migration)
	}
	if _, err := migrations.MigrateTo(context.Background(), gdb, before); err != nil {
		t.Fatalf("migrate %s to %d: %v", db.Name, before, err)
	}
	return gdb
}

func openUnmigrated(t testing.TB, db Database) *gorm.DB {
	gdb, err := database.Open(db.URL)
	if err != nil {
		t.Fatalf("open %s: %v", db.Name, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := gdb.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return gdb
}

// Stores are the domain stores over a test database, with the database
// handle for assertions and a clock the test can move.
type Stores struct {
	*models.Stores
	DB      *gorm.DB
	keyring *keys.Keyring
	clock   atomic.Pointer[func() time.Time]
}

// SetClock makes every store read now (normalised like the system clock).
func (s *Stores) SetClock(now func() time.Time) { s.clock.Store(&now) }

// Now is the stores' clock.
func (s *Stores) Now() time.Time { return s.Clock() }

// NewStores opens and migrates db and builds the stores over it, on a clock
// that reads the wall clock until SetClock moves it; mail is off and
// webhooks may not target private addresses.
func NewStores(t testing.TB, db Database) *Stores {
	return NewStoresWith(t, db, outbox.Options{})
}

// NewStoresWith is NewStores with the outbox built with opts.
func NewStoresWith(t testing.TB, db Database, opts outbox.Options) *Stores {
	return WrapWith(t, Open(t, db), Keyring(t), opts)
}

// Wrap builds test stores over an opened, migrated database (outbox
// options as NewStores).
func Wrap(t testing.TB, gdb *gorm.DB, keyring *keys.Keyring) *Stores {
	return WrapWith(t, gdb, keyring, outbox.Options{})
}

// WrapWith is Wrap with the outbox built with opts.
func WrapWith(t testing.TB, gdb *gorm.DB, keyring *keys.Keyring, opts outbox.Options) *Stores {
	t.Helper()
	s := &Stores{DB: gdb, keyring: keyring}
	wall := time.Now
	s.clock.Store(&wall)
	stores, err := models.New(gdb, keyring, database.Fixed(func() time.Time { return (*s.clock.Load())() }), opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Stores = stores
	return s
}

// OutboxWith is a second outbox store over the same database, keyring,
// audit trail and clock, built with opts: for a test that writes what
// another configuration allowed (an endpoint saved while private targets
// were allowed, say) beside the stores under test.
func (s *Stores) OutboxWith(opts outbox.Options) *outbox.Store {
	return outbox.NewStore(s.DB, s.Audit, s.keyring, s.Clock, opts)
}

// Fixture is a program with admins of every kind.
type Fixture struct {
	Program *accounts.Program
	Full    *accounts.Admin
	Limited *accounts.Admin
	Support *accounts.Admin
}

// Password is every fixture admin's password.
const Password = "correct horse battery staple"

// Seed creates a program named name with a full admin, a limited admin
// without modules and a support admin with the audit trail.
func Seed(t testing.TB, store *Stores, name string) Fixture {
	p, err := store.Keys.CreateProgram(context.Background(), audit.Actor{}, name)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(local, access string, modules ...string) *accounts.Admin {
		a, err := store.Accounts.CreateAdmin(context.Background(), audit.Actor{}, p.ID, local+"@"+p.PartnerID+".test", Password, access, modules)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	return Fixture{
		Program: p,
		Full:    mk("full", accounts.AccessFull),
		Limited: mk("limited", accounts.AccessLimited),
		Support: mk("support", accounts.AccessLimited, accounts.ModuleAuditTrail),
	}
}

// RedisURL is TEST_REDIS_URL; without it the test is skipped, saying why,
// except under CI, where Redis is required (.ci/run starts it).
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("TEST_REDIS_URL")
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TEST_REDIS_URL is required under CI (.ci/run starts Redis)")
		}
		t.Skip("TEST_REDIS_URL not set (e.g. redis://127.0.0.1:6379/0): Redis-shared rate limits not tested")
	}
	return u
}

// RedisPrefix is a Redis key prefix of the test's own, so tests never
// spend each other's budgets.
func RedisPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "keydesk-test:" + hex.EncodeToString(b) + ":"
}
