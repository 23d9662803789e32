package migrations_test

import (
	"strings"
	"testing"

	"keydesk/models/migrations"
	"keydesk/models/modeltest"
)

// The audit value indexes are built concurrently on PostgreSQL, outside a
// transaction; a build an earlier run left invalid (interrupted) is built
// again, and every index ends valid, with the version recorded once.
func TestAuditValueIndexesFinishAnInterruptedBuild(t *testing.T) {
	const description = "audit trail indexes by target name, built concurrently"
	gdb := modeltest.OpenBefore(t, modeltest.Postgres(t), description)
	// An interrupted CREATE INDEX CONCURRENTLY leaves its index invalid.
	if err := gdb.Exec(`CREATE INDEX audit_events_name_time ON audit_events (program_id)`).Error; err != nil {
		t.Fatal(err)
	}
	if err := gdb.Exec(`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'audit_events_name_time'::regclass`).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := migrations.Migrate(t.Context(), gdb); err != nil {
		t.Fatal(err)
	}
	var indexes []struct {
		Name  string
		Valid bool
		Def   string
	}
	err := gdb.Raw(`SELECT c.relname AS name, i.indisvalid AS valid, pg_get_indexdef(c.oid) AS def FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relname IN ('audit_events_name_time', 'audit_events_actor_name_time', 'audit_events_target_name_time')
		ORDER BY c.relname`).Scan(&indexes).Error
	if err != nil {
		t.Fatal(err)
	}
	if len(indexes) != 3 {
		t.Fatalf("indexes %+v", indexes)
	}
	for _, ix := range indexes {
		if !ix.Valid {
			t.Fatalf("%s left invalid: %s", ix.Name, ix.Def)
		}
	}
	if def := indexes[1].Def; indexes[1].Name != "audit_events_name_time" || !containsAll(def, "lower(target_name)", "occurred_at DESC", "id DESC") {
		t.Fatalf("the interrupted index was not built again: %s", def)
	}
	if v, _ := migrations.Version(t.Context(), gdb); v != migrations.SchemaVersion() {
		t.Fatalf("version %d, want %d", v, migrations.SchemaVersion())
	}
	if n, err := migrations.Migrate(t.Context(), gdb); err != nil || n != 0 {
		t.Fatalf("second run applied %d (%v)", n, err)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
