package migrations

// auditTargetNames lets a search with an action be answered by exact
// index ranges (audit.Store.find): audit_target_names holds, per program
// and action, every distinct lowered target name its events bear, so a
// search is first matched against those few names (none: no event
// matches, and no event is read), then the events of each matching name
// are read in time order from audit_events_action_name_time. A statement
// trigger keeps the table complete on every insert (one row for an
// append, one set for a bulk load); ENABLE ALWAYS keeps it firing under
// session_replication_role = replica, as the append-only guard does.
// Events are never deleted and updates (`keydesk audit rekey`) do not
// touch names, so inserts are all it follows. PostgreSQL only: SQLite
// runs the search as a plain query.
var auditTargetNames = migration{
	description: "audit target names by action",
	sqlite:      `SELECT 1;`,
	postgres: `
CREATE TABLE audit_target_names (
	program_id BIGINT NOT NULL,
	action TEXT NOT NULL,
	name TEXT NOT NULL,
	PRIMARY KEY (program_id, action, name)
);
CREATE FUNCTION audit_target_names_add() RETURNS trigger LANGUAGE plpgsql
	SET search_path FROM CURRENT AS $$
BEGIN
	INSERT INTO audit_target_names (program_id, action, name)
		SELECT DISTINCT program_id, action, lower(target_name) FROM new_events
		ON CONFLICT DO NOTHING;
	RETURN NULL;
END
$$;
CREATE TRIGGER audit_events_target_names AFTER INSERT ON audit_events
	REFERENCING NEW TABLE AS new_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_target_names_add();
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_target_names;
INSERT INTO audit_target_names (program_id, action, name)
	SELECT DISTINCT program_id, action, lower(target_name) FROM audit_events;
CREATE INDEX audit_events_action_name_time ON audit_events (program_id, action, lower(target_name), occurred_at DESC, id DESC);
`,
}
