package migrations

import (
	"fmt"

	"github.com/jackc/pgx/v5"

	"gorm.io/gorm"
)

// auditValueIndexes serve a page of the audit trail read value by value
// (audit.Store.find on PostgreSQL): a search without an action, or with an
// actor or API key, becomes the distinct target names it matches, and each
// combination of values is one exact range of one of these indexes, in
// page order. PostgreSQL builds them with CREATE INDEX CONCURRENTLY, so an
// existing audit trail keeps taking appends while they are built (a plain
// CREATE INDEX blocks every insert for the whole build). SQLite runs the
// search as a plain query and needs none of them.
var auditValueIndexes = migration{
	description: "audit trail indexes by target name, built concurrently",
	sqlite:      `SELECT 1;`,
	postgresConcurrently: []concurrentIndex{
		{name: "audit_events_name_time", on: "audit_events (program_id, lower(target_name), occurred_at DESC, id DESC)"},
		{name: "audit_events_actor_name_time", on: "audit_events (program_id, actor_email, lower(target_name), occurred_at DESC, id DESC)"},
		{name: "audit_events_target_name_time", on: "audit_events (program_id, target_id, lower(target_name), occurred_at DESC, id DESC)"},
		// The search's first step matches the program's distinct names;
		// with many names (one per member, say) trigrams find the few that
		// contain the text. Only where pg_trgm is installed (the migration
		// "audit trail filter indexes" installs it when it can).
		{name: "audit_target_names_name_trgm", on: "audit_target_names USING gin (name %s.gin_trgm_ops)", extension: "pg_trgm"},
	},
}

// concurrentIndex is an index PostgreSQL builds outside a transaction.
// With extension set, it is built only when that extension is installed,
// and %s in on is the extension's schema.
type concurrentIndex struct {
	name, on  string
	extension string
}

// applyConcurrently applies a migration of concurrent index builds on
// PostgreSQL, on the connection that holds the migration lock for its
// session (MigrateTo). CREATE INDEX CONCURRENTLY cannot run in a
// transaction, so the version is recorded after the last index. An
// index a failed or interrupted build left invalid is dropped and built
// again; a valid one is kept (IF NOT EXISTS), so a second run finishes
// what the first began.
func applyConcurrently(conn *gorm.DB, version int, m migration) (done bool, err error) {
	var count int64
	if err := conn.Raw(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&count).Error; err != nil {
		return false, err
	}
	if count > 0 {
		return true, nil
	}
	for _, ix := range m.postgresConcurrently {
		on := ix.on
		if ix.extension != "" {
			var schemas []string
			if err := conn.Raw(`SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = ?`, ix.extension).Scan(&schemas).Error; err != nil {
				return false, err
			}
			if len(schemas) == 0 {
				continue
			}
			on = fmt.Sprintf(on, pgx.Identifier{schemas[0]}.Sanitize())
		}
		var invalid int64
		err := conn.Raw(`SELECT COUNT(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname = ? AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid`, ix.name).Scan(&invalid).Error
		if err != nil {
			return false, err
		}
		if invalid > 0 {
			if err := conn.Exec(`DROP INDEX CONCURRENTLY IF EXISTS ` + ix.name).Error; err != nil {
				return false, fmt.Errorf("drop the invalid index %s: %w", ix.name, err)
			}
		}
		if err := conn.Exec(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ` + ix.name + ` ON ` + on).Error; err != nil {
			return false, fmt.Errorf("create index %s: %w", ix.name, err)
		}
	}
	return false, conn.Exec(`INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, CURRENT_TIMESTAMP)`, version, m.description).Error
}
