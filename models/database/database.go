// Package database is the bottom of keydesk's models: opening SQLite or
// PostgreSQL through GORM, the dialect helpers every domain package shares,
// the one clock, the sentinel errors callers branch on and the program row
// lock every aggregate takes (LockProgram). Beyond that lock it knows
// nothing of programs, keys or HTTP.
package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// DefaultSQLitePath is where the embedded default database lives.
const DefaultSQLitePath = "data/keydesk.db"

// Sentinel errors callers branch on.
var (
	ErrNotFound = errors.New("not found")
)

// IsPostgresURL reports whether databaseURL selects PostgreSQL.
func IsPostgresURL(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Open opens PostgreSQL for postgres:// URLs and the embedded SQLite
// database otherwise (an empty URL means data/keydesk.db; "sqlite:PATH" names
// another file).
func Open(databaseURL string) (*gorm.DB, error) {
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                SystemClock,
	}
	if IsPostgresURL(databaseURL) {
		db, err := gorm.Open(postgres.Open(databaseURL), cfg)
		if err != nil {
			return nil, fmt.Errorf("store: unable to open PostgreSQL: %w", err)
		}
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		return db, nil
	}
	path := strings.TrimPrefix(databaseURL, "sqlite:")
	if path == "" {
		path = DefaultSQLitePath
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: unable to create the data directory: %w", err)
	}
	// Immediate transactions take the write lock at BEGIN, so a transaction
	// that counts and then inserts can never race another writer.
	dsn := "file:" + path + "?_txlock=immediate&_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return nil, fmt.Errorf("store: unable to open SQLite at %s: %w", path, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, err
	}
	sqlDB.SetMaxOpenConns(8)
	return db, nil
}

// TxStep is work one domain hands to another's transaction, run first in
// it, so both commit or neither does: spending a one-time confirmation
// (accounts) with the action it allows (keys). An error undoes the action.
type TxStep func(tx *gorm.DB) error

// IsPostgres reports whether db talks to PostgreSQL.
func IsPostgres(db *gorm.DB) bool {
	return db.Dialector.Name() == "postgres"
}

// ForUpdate is the row-locking suffix of a SELECT on PostgreSQL. SQLite needs
// none: its immediate transactions already hold the database write lock.
func ForUpdate(db *gorm.DB) string {
	if IsPostgres(db) {
		return " FOR UPDATE"
	}
	return ""
}

// LockProgram holds the program's row until tx ends, so checks and writes
// that must not interleave between two transactions of the same program
// (key and endpoint limits, the last full-access admin, invitation caps,
// the program's settings) run one at a time: SELECT … FOR UPDATE on
// PostgreSQL; on SQLite the immediate transaction already holds the
// database's write lock. A program that does not exist is ErrNotFound,
// never a silent no-op. It is the one program lock of every aggregate
// (keys, accounts, outbox).
func LockProgram(tx *gorm.DB, programID int64) error {
	var id int64
	if err := tx.Raw(`SELECT id FROM programs WHERE id = ?`+ForUpdate(tx), programID).Scan(&id).Error; err != nil {
		return fmt.Errorf("unable to lock program %d: %w", programID, err)
	}
	if id == 0 {
		return ErrNotFound
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint failure on
// either database.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// Ping checks that the database answers, within timeout.
func Ping(ctx context.Context, db *gorm.DB, timeout time.Duration) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sqlDB.PingContext(ctx)
}

// PostgresURL returns the connection URL of a PostgreSQL database (to open
// a dedicated LISTEN connection beside the pool); ok is false on SQLite.
func PostgresURL(db *gorm.DB) (url string, ok bool) {
	d, isPG := db.Dialector.(*postgres.Dialector)
	if !isPG || d.Config == nil || d.Config.DSN == "" {
		return "", false
	}
	return d.Config.DSN, true
}
