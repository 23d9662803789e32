package database_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/modeltest"
)

// The one program lock refuses a program that does not exist, and on
// PostgreSQL it really holds the row: a second transaction cannot take it
// until the first ends.
func TestLockProgram(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Lock Store")
		ctx := context.Background()
		gdb := store.DB.WithContext(ctx)

		if err := gdb.Transaction(func(tx *gorm.DB) error { return database.LockProgram(tx, fx.Program.ID) }); err != nil {
			t.Fatalf("locking an existing program: %v", err)
		}
		err := gdb.Transaction(func(tx *gorm.DB) error { return database.LockProgram(tx, fx.Program.ID+1000) })
		if !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("locking a missing program = %v, want database.ErrNotFound", err)
		}

		// Every aggregate uses it: a team change in a missing program is
		// not found, never an insert that fails later or passes silently.
		_, _, err = store.Accounts.Invite(ctx, audit.Actor{}, fx.Program.ID+1000, "new@example.test", accounts.AccessFull, nil)
		if !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("inviting to a missing program = %v, want database.ErrNotFound", err)
		}

		if !database.IsPostgres(store.DB) {
			return // SQLite: the immediate transaction holds the database write lock
		}
		tx := gdb.Begin()
		defer tx.Rollback()
		if err := database.LockProgram(tx, fx.Program.ID); err != nil {
			t.Fatal(err)
		}
		err = gdb.Transaction(func(other *gorm.DB) error {
			if err := other.Exec(`SET LOCAL lock_timeout = '200ms'`).Error; err != nil {
				return err
			}
			return database.LockProgram(other, fx.Program.ID)
		})
		if err == nil {
			t.Fatal("a second transaction took the program lock while the first held it")
		}
	})
}
