package migrations_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
	"keydesk/models/migrations"
	"keydesk/models/modeltest"
)

// appliedMigrations is what schema_migrations records, in version order.
func appliedMigrations(t *testing.T, gdb *gorm.DB) []struct {
	Version     int
	Description string
} {
	t.Helper()
	var rows []struct {
		Version     int
		Description string
	}
	if err := gdb.Raw(`SELECT version, description FROM schema_migrations ORDER BY version`).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestMigrateFromEmpty migrates an empty database on both databases: every
// migration is applied once, recorded as versions 1..N under its own
// description, and the schema version is the number of migrations.
func TestMigrateFromEmpty(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb, err := database.Open(db.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if sqlDB, err := gdb.DB(); err == nil {
				sqlDB.Close()
			}
		})
		if v, err := migrations.Version(t.Context(), gdb); err != nil || v != 0 {
			t.Fatalf("empty database at version %d (%v), want 0", v, err)
		}
		applied, err := migrations.Migrate(t.Context(), gdb)
		if err != nil {
			t.Fatal(err)
		}
		n := migrations.SchemaVersion()
		if applied != n {
			t.Errorf("%d migrations applied to an empty database, want all %d", applied, n)
		}
		if v, err := migrations.Version(t.Context(), gdb); err != nil || v != n {
			t.Errorf("schema version %d (%v), want %d", v, err, n)
		}
		rows := appliedMigrations(t, gdb)
		if len(rows) != n {
			t.Fatalf("%d rows in schema_migrations, want %d", len(rows), n)
		}
		seen := map[string]bool{}
		for i, r := range rows {
			if r.Version != i+1 {
				t.Errorf("row %d has version %d, want %d", i, r.Version, i+1)
			}
			if strings.TrimSpace(r.Description) == "" || seen[r.Description] {
				t.Errorf("version %d: description %q is empty or not unique", r.Version, r.Description)
			}
			seen[r.Description] = true
			if got := migrations.VersionOf(r.Description); got != r.Version {
				t.Errorf("VersionOf(%q) = %d, want %d", r.Description, got, r.Version)
			}
		}
		// The tables of the first and the last migrations are there.
		for _, table := range []string{"programs", "admins", "api_keys", "audit_events", "webhook_deliveries", "mail_deliveries", "passkey_challenges_used"} {
			if !gdb.Migrator().HasTable(table) {
				t.Errorf("no table %s after migrating", table)
			}
		}
		if !gdb.Migrator().HasColumn("audit_rekey_pending", "mac") {
			t.Error("audit_rekey_pending has no mac column after migrating")
		}
	})
}

// TestMigrateAgainAppliesNothing: a second run (every restart) applies
// nothing, changes no recorded migration and keeps the schema version.
func TestMigrateAgainAppliesNothing(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.Open(t, db)
		before := appliedMigrations(t, gdb)
		for range 2 {
			applied, err := migrations.Migrate(t.Context(), gdb)
			if err != nil {
				t.Fatalf("second run: %v", err)
			}
			if applied != 0 {
				t.Errorf("second run applied %d migrations, want 0", applied)
			}
		}
		after := appliedMigrations(t, gdb)
		if len(after) != len(before) || len(after) != migrations.SchemaVersion() {
			t.Errorf("%d recorded migrations after re-running, %d before, want %d", len(after), len(before), migrations.SchemaVersion())
		}
		if v, _ := migrations.Version(t.Context(), gdb); v != migrations.SchemaVersion() {
			t.Errorf("schema version %d after re-running, want %d", v, migrations.SchemaVersion())
		}
	})
}

// TestMigrateTwoInstancesAtOnce: two instances starting together on one
// database apply each migration exactly once between them (PostgreSQL's
// advisory lock, SQLite's write lock), and neither fails.
func TestMigrateTwoInstancesAtOnce(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		var handles [2]*gorm.DB
		for i := range handles {
			gdb, err := database.Open(db.URL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if sqlDB, err := gdb.DB(); err == nil {
					sqlDB.Close()
				}
			})
			handles[i] = gdb
		}
		// schema_migrations itself is created by both: create it first so
		// the race is over the migrations, as for two instances of an
		// already installed release.
		if _, err := migrations.MigrateTo(t.Context(), handles[0], 0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var applied [2]int
		var errs [2]error
		start := make(chan struct{})
		for i := range handles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				applied[i], errs[i] = migrations.Migrate(t.Context(), handles[i])
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("instance %d: %v", i, err)
			}
		}
		if sum := applied[0] + applied[1]; sum != migrations.SchemaVersion() {
			t.Errorf("instances applied %d and %d migrations, want %d between them", applied[0], applied[1], migrations.SchemaVersion())
		}
		if rows := appliedMigrations(t, handles[0]); len(rows) != migrations.SchemaVersion() {
			t.Errorf("%d recorded migrations, want %d", len(rows), migrations.SchemaVersion())
		}
	})
}

// previousRelease is the first migration of the current release: the
// previous release left databases just before it.
const previousRelease = "passkey challenges answered once"

// TestMigrateFromPreviousRelease builds a database as the previous release
// left it, with representative rows in its main tables (a program, an
// admin and membership, an API key, a keyed audit event and a re-keying
// mark, a webhook endpoint and a delivery, a session), migrates it up and
// checks that every row survived unchanged and that the new schema is in
// place.
func TestMigrateFromPreviousRelease(t *testing.T) {
	if migrations.VersionOf(previousRelease) == 0 {
		t.Fatalf("no migration %q: update previousRelease", previousRelease)
	}
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.OpenBefore(t, db, previousRelease)
		if v, _ := migrations.Version(t.Context(), gdb); v != migrations.VersionOf(previousRelease)-1 {
			t.Fatalf("previous release's schema at version %d, want %d", v, migrations.VersionOf(previousRelease)-1)
		}
		if gdb.Migrator().HasTable("passkey_challenges_used") {
			t.Fatal("the previous release's schema already has this release's table")
		}
		at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
		seed := []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO programs (id, name, partner_id, created_at, max_key_lifetime_days, require_two_factor) VALUES (7, 'Loyalty', 'p_loyalty', ?, 90, TRUE)`, []any{at}},
			{`INSERT INTO admins (id, email, password_hash, created_at, totp_secret, passkey_count) VALUES (11, 'ada@example.test', 'hash', ?, 'sealed-totp', 1)`, []any{at}},
			{`INSERT INTO memberships (program_id, admin_id, access, modules, created_at) VALUES (7, 11, 'limited', 'audit_trail', ?)`, []any{at}},
			{`INSERT INTO api_keys (id, program_id, identifier, name, digest, last4, created_at, updated_at, restricted, permissions, expires_at) VALUES (21, 7, 'kd_abc', 'Checkout', ?, 'wxyz', ?, ?, TRUE, 'members:read', ?)`,
				[]any{[]byte("digest-of-the-key-0123456789abcd"), at, at, at.Add(30 * 24 * time.Hour)}},
			{`INSERT INTO audit_heads (program_id, seq, hash) VALUES (7, 1, 'h1')`, nil},
			{`INSERT INTO audit_events (program_id, seq, prev_hash, hash, occurred_at, actor_id, actor_email, action, target_type, target_id, target_name, outcome, details, hash_version, key_version)
VALUES (7, 1, '', 'h1', ?, 11, 'ada@example.test', 'api_key.created', 'api_key', 'kd_abc', 'Checkout', 'success', '{}', 1, 1)`, []any{at}},
			{`INSERT INTO audit_rekey_pending (program_id, through_seq) VALUES (7, 1)`, nil},
			{`INSERT INTO webhook_endpoints (id, program_id, url, event_types, secret_sealed, secret_key_version, created_at, updated_at) VALUES (31, 7, 'https://hooks.example.com/k', 'api_key.created', ?, 1, ?, ?)`,
				[]any{[]byte("sealed"), at, at}},
			{`INSERT INTO webhook_deliveries (program_id, endpoint_id, message_id, event_type, payload, status, attempts, next_attempt_at, created_at) VALUES (7, 31, 'msg_1', 'api_key.created', '{}', 'pending', 2, ?, ?)`, []any{at, at}},
			{`INSERT INTO sessions (id, data, created_at, updated_at, expires_at, admin_id, program_id) VALUES ('s1', 'data', ?, ?, ?, 11, 7)`, []any{at, at, at.Add(time.Hour)}},
		}
		for _, s := range seed {
			if err := gdb.Exec(s.sql, s.args...).Error; err != nil {
				t.Fatalf("%s: %v", s.sql, err)
			}
		}
		applied, err := migrations.Migrate(t.Context(), gdb)
		if err != nil {
			t.Fatal(err)
		}
		if want := migrations.SchemaVersion() - migrations.VersionOf(previousRelease) + 1; applied != want {
			t.Errorf("upgrade applied %d migrations, want %d", applied, want)
		}
		if v, _ := migrations.Version(t.Context(), gdb); v != migrations.SchemaVersion() {
			t.Errorf("schema version %d after the upgrade, want %d", v, migrations.SchemaVersion())
		}
		for _, check := range []struct {
			query string
			want  string
		}{
			{`SELECT name || '|' || partner_id || '|' || max_key_lifetime_days FROM programs WHERE id = 7`, "Loyalty|p_loyalty|90"},
			{`SELECT email || '|' || totp_secret || '|' || passkey_count FROM admins WHERE id = 11`, "ada@example.test|sealed-totp|1"},
			{`SELECT access || '|' || modules FROM memberships WHERE program_id = 7 AND admin_id = 11`, "limited|audit_trail"},
			{`SELECT identifier || '|' || name || '|' || permissions || '|' || last4 FROM api_keys WHERE id = 21`, "kd_abc|Checkout|members:read|wxyz"},
			{`SELECT action || '|' || target_name || '|' || hash || '|' || hash_version FROM audit_events WHERE program_id = 7 AND seq = 1`, "api_key.created|Checkout|h1|1"},
			{`SELECT through_seq || '|' || through_hash || '|' || mac FROM audit_rekey_pending WHERE program_id = 7`, "1||"},
			{`SELECT url || '|' || event_types FROM webhook_endpoints WHERE id = 31`, "https://hooks.example.com/k|api_key.created"},
			{`SELECT message_id || '|' || status || '|' || attempts FROM webhook_deliveries WHERE endpoint_id = 31`, "msg_1|pending|2"},
			{`SELECT data || '|' || admin_id || '|' || program_id FROM sessions WHERE id = 's1'`, "data|11|7"},
		} {
			var got string
			if err := gdb.Raw(check.query).Scan(&got).Error; err != nil {
				t.Errorf("%s: %v", check.query, err)
				continue
			}
			if got != check.want {
				t.Errorf("%s after the upgrade: %q, want %q", check.query, got, check.want)
			}
		}
		var key struct {
			ExpiresAt time.Time
			Digest    []byte
		}
		if err := gdb.Raw(`SELECT expires_at, digest FROM api_keys WHERE id = 21`).Scan(&key).Error; err != nil {
			t.Fatal(err)
		}
		if !key.ExpiresAt.Equal(at.Add(30*24*time.Hour)) || string(key.Digest) != "digest-of-the-key-0123456789abcd" {
			t.Errorf("API key's expiry and digest after the upgrade: %v %q", key.ExpiresAt, key.Digest)
		}
		// This release's table works on the upgraded database.
		if err := gdb.Exec(`INSERT INTO passkey_challenges_used (digest, expires_at) VALUES ('d', ?)`, at).Error; err != nil {
			t.Errorf("passkey_challenges_used after the upgrade: %v", err)
		}
		// The upgraded database is readable through the current stores.
		s := modeltest.Wrap(t, gdb, modeltest.Keyring(t))
		p, err := s.Accounts.ProgramByID(t.Context(), 7)
		if err != nil || p.PartnerID != "p_loyalty" {
			t.Errorf("program through the stores after the upgrade: %+v, %v", p, err)
		}
	})
}
