// Package migrations shapes keydesk's tables: an ordered list of versioned
// schema changes for SQLite and PostgreSQL, each applied once in its own
// transaction, at start and by `keydesk migrate`.
package migrations

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"keydesk/models/database"
)

// migration is one versioned schema change. The schema version is the
// number of migrations applied; each runs in its own transaction.
type migration struct {
	description string
	sqlite      string
	postgres    string
	// postgresConcurrently, when set, replaces postgres: indexes built
	// outside a transaction (applyConcurrently).
	postgresConcurrently []concurrentIndex
}

// columnTypes fill the placeholders shared by both dialects' DDL.
var columnTypes = map[string][2]string{
	"{{id}}":    {"INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"},
	"{{time}}":  {"DATETIME", "TIMESTAMPTZ"},
	"{{bytes}}": {"BLOB", "BYTEA"},
}

func ddl(common string) (sqliteSQL, postgresSQL string) {
	sqliteSQL, postgresSQL = common, common
	for placeholder, types := range columnTypes {
		sqliteSQL = strings.ReplaceAll(sqliteSQL, placeholder, types[0])
		postgresSQL = strings.ReplaceAll(postgresSQL, placeholder, types[1])
	}
	return sqliteSQL, postgresSQL
}

func commonMigration(description, common string) migration {
	s, p := ddl(common)
	return migration{description: description, sqlite: s, postgres: p}
}

var migrations = []migration{
	commonMigration("programs, admins and memberships", `
CREATE TABLE programs (
	id {{id}},
	name TEXT NOT NULL,
	partner_id TEXT NOT NULL UNIQUE,
	created_at {{time}} NOT NULL
);
CREATE TABLE admins (
	id {{id}},
	email TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL,
	reauth_locked_until {{time}},
	created_at {{time}} NOT NULL
);
CREATE TABLE memberships (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id),
	admin_id BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
	access TEXT NOT NULL CHECK (access IN ('full', 'limited')),
	modules TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (program_id, admin_id)
);
CREATE INDEX memberships_admin_id ON memberships (admin_id);
CREATE TABLE auth_failures (
	id {{id}},
	scope TEXT NOT NULL,
	subject TEXT NOT NULL,
	created_at {{time}} NOT NULL
);
CREATE INDEX auth_failures_lookup ON auth_failures (scope, subject, created_at);
CREATE TABLE sessions (
	id TEXT PRIMARY KEY,
	data TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
`),
	commonMigration("API keys", `
CREATE TABLE api_keys (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id),
	identifier TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	digest {{bytes}} NOT NULL UNIQUE,
	sealed {{bytes}},
	key_version BIGINT NOT NULL DEFAULT 0,
	last4 TEXT NOT NULL,
	is_default BOOLEAN NOT NULL DEFAULT FALSE,
	active BOOLEAN NOT NULL DEFAULT TRUE,
	created_by_id BIGINT NOT NULL DEFAULT 0,
	created_by_email TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL,
	last_used_at {{time}}
);
CREATE INDEX api_keys_program_id ON api_keys (program_id, created_at);
CREATE UNIQUE INDEX api_keys_program_name ON api_keys (program_id, lower(name)) WHERE is_default = FALSE;
CREATE UNIQUE INDEX api_keys_program_default ON api_keys (program_id) WHERE is_default = TRUE;
`),
	{
		description: "the audit chain, append-only",
		sqlite: mustSQLite(auditTablesDDL + `
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
`),
		postgres: mustPostgres(auditTablesDDL + `
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_change;
ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_truncate;
`),
	},
	commonMigration("loyalty members", `
CREATE TABLE members (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id),
	member_id TEXT NOT NULL,
	email TEXT NOT NULL,
	first_name TEXT NOT NULL DEFAULT '',
	last_name TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	UNIQUE (program_id, member_id)
);
`),
	{
		// The audit trail lists newest first by (occurred_at, id) under every
		// filter, so each filter's index ends with that order; these replace
		// the (…, id DESC) indexes of the audit chain migration. Search on the
		// target name uses a trigram index on PostgreSQL when pg_trgm can be
		// installed, and falls back to scanning the time index otherwise.
		description: "audit trail filter indexes",
		sqlite: `
DROP INDEX IF EXISTS audit_events_program_action;
DROP INDEX IF EXISTS audit_events_program_actor;
DROP INDEX IF EXISTS audit_events_program_target;
CREATE INDEX audit_events_action_time ON audit_events (program_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_time ON audit_events (program_id, actor_email, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_time ON audit_events (program_id, target_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_name ON audit_events (program_id, target_type, lower(target_name), target_id);
`,
		postgres: `
DROP INDEX IF EXISTS audit_events_program_action;
DROP INDEX IF EXISTS audit_events_program_actor;
DROP INDEX IF EXISTS audit_events_program_target;
CREATE INDEX audit_events_action_time ON audit_events (program_id, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_actor_time ON audit_events (program_id, actor_email, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_time ON audit_events (program_id, target_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_name ON audit_events (program_id, target_type, lower(target_name), target_id);
DO $$
DECLARE
	ext_schema text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')
		AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
		BEGIN
			CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'pg_trgm unavailable (%): audit search scans the time index', SQLERRM;
		END;
	END IF;
	SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
	IF ext_schema IS NOT NULL THEN
		EXECUTE format('CREATE INDEX audit_events_target_name_trgm ON audit_events USING gin (lower(target_name) %I.gin_trgm_ops)', ext_schema);
	END IF;
END
$$;
`,
	},
	// Combined filters: an actor or a key together with an action ("what
	// did this admin delete", "who revealed this key") are exact index
	// ranges, even when nothing matches; with one index per filter the
	// database would read every event of the actor or key in the period.
	commonMigration("audit trail combined filter indexes", `
CREATE INDEX audit_events_actor_action_time ON audit_events (program_id, actor_email, action, occurred_at DESC, id DESC);
CREATE INDEX audit_events_target_action_time ON audit_events (program_id, target_id, action, occurred_at DESC, id DESC);
`),
	// A confirmation with a zero re-authentication window releases one
	// secret: the grant row is deleted by the request that uses it, so
	// simultaneous reveals cannot all spend it. Only its digest is stored.
	commonMigration("one-time re-authentication grants", `
CREATE TABLE reauth_grants (
	digest TEXT PRIMARY KEY,
	admin_id BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
	program_id BIGINT NOT NULL,
	expires_at {{time}} NOT NULL
);
CREATE INDEX reauth_grants_expires_at ON reauth_grants (expires_at);
`),
	// Issue 11 item 4: the chain becomes an HMAC under a key derived from
	// the master key. Existing events keep their unkeyed SHA-256 hash
	// (hash_version 0) and are listed in audit_rekey_pending, up to the seq
	// they reached now; `keydesk audit rekey` re-chains exactly those under
	// the keyed hash (it needs the master key, which migrations never see).
	// New events must say how they were hashed: PostgreSQL drops the column
	// defaults and SQLite refuses unkeyed inserts, so an older binary fails
	// loudly instead of appending unkeyed events. audit_chain_keys holds the
	// chain keys of earlier master keys, wrapped under the current one by
	// `keydesk keys rotate-master`, so old events stay verifiable after
	// KEYDESK_MASTER_KEY_PREVIOUS is removed.
	{
		description: "keyed audit chain",
		sqlite: mustSQLite(keyedAuditDDL + `
CREATE TRIGGER audit_events_keyed_only BEFORE INSERT ON audit_events WHEN NEW.hash_version = 0
BEGIN SELECT RAISE(ABORT, 'audit_events takes keyed events only'); END;
`),
		postgres: mustPostgres(keyedAuditDDL + `
ALTER TABLE audit_events ALTER COLUMN hash_version DROP DEFAULT;
ALTER TABLE audit_events ALTER COLUMN key_version DROP DEFAULT;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_keyed_only CHECK (hash_version > 0) NOT VALID;
`),
	},
	// Issue 12: the key lifecycle. expires_at (NULL: never); a roll keeps
	// the previous secret (old_*) until old_expires_at; restricted keys
	// hold their permissions (space-separated) and allowed_ips (CIDRs, one a
	// line; empty: any address); programs may cap new keys' lifetime.
	commonMigration("key lifecycle: expiry, roll overlap, permissions, allowed addresses", `
ALTER TABLE api_keys ADD COLUMN expires_at {{time}};
ALTER TABLE api_keys ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE api_keys ADD COLUMN permissions TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN allowed_ips TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN old_digest {{bytes}};
ALTER TABLE api_keys ADD COLUMN old_sealed {{bytes}};
ALTER TABLE api_keys ADD COLUMN old_key_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN old_expires_at {{time}};
CREATE UNIQUE INDEX api_keys_old_digest ON api_keys (old_digest);
CREATE INDEX api_keys_old_expires_at ON api_keys (old_expires_at);
ALTER TABLE programs ADD COLUMN max_key_lifetime_days INTEGER NOT NULL DEFAULT 0;
`),
	// Issue 15: the team and two-factor sign-in. Invitations keep only the
	// digest of their one-time token. Sessions name their admin and program
	// (set on every save), so removing an admin or changing a password ends
	// exactly that admin's sessions. TOTP keeps the last time step accepted,
	// so a code works once; recovery codes are stored as digests.
	commonMigration("team, invitations and two-factor authentication", `
CREATE TABLE invitations (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
	email TEXT NOT NULL,
	access TEXT NOT NULL,
	modules TEXT NOT NULL DEFAULT '',
	digest TEXT NOT NULL UNIQUE,
	invited_by BIGINT NOT NULL DEFAULT 0,
	expires_at {{time}} NOT NULL,
	accepted_at {{time}},
	revoked_at {{time}},
	created_at {{time}} NOT NULL
);
CREATE INDEX invitations_program ON invitations (program_id, created_at DESC);
ALTER TABLE sessions ADD COLUMN admin_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN program_id BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_admin ON sessions (admin_id, program_id);
ALTER TABLE admins ADD COLUMN last_sign_in_at {{time}};
ALTER TABLE admins ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE admins ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0;
ALTER TABLE programs ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE recovery_codes (
	id {{id}},
	admin_id BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
	digest TEXT NOT NULL,
	used_at {{time}},
	created_at {{time}} NOT NULL
);
CREATE INDEX recovery_codes_admin ON recovery_codes (admin_id);
`),
	// Issue 14: events that leave keydesk. outbox_events is written in the
	// action's transaction; a dispatcher fans each event out to the
	// program's subscribed endpoints as webhook_deliveries (in one
	// transaction, then marks it dispatched), which workers on any instance
	// claim with a lease and deliver with retries.
	commonMigration("webhook outbox", `
CREATE TABLE outbox_events (
	id {{id}},
	program_id BIGINT NOT NULL,
	message_id TEXT NOT NULL UNIQUE,
	event_type TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	dispatched_at {{time}}
);
CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE dispatched_at IS NULL;
CREATE TABLE webhook_endpoints (
	id {{id}},
	program_id BIGINT NOT NULL,
	url TEXT NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	event_types TEXT NOT NULL,
	enabled BOOLEAN NOT NULL DEFAULT TRUE,
	secret_sealed {{bytes}} NOT NULL,
	secret_key_version BIGINT NOT NULL,
	previous_secret_sealed {{bytes}},
	previous_key_version BIGINT NOT NULL DEFAULT 0,
	previous_expires_at {{time}},
	created_at {{time}} NOT NULL,
	updated_at {{time}} NOT NULL
);
CREATE INDEX webhook_endpoints_program ON webhook_endpoints (program_id, id);
CREATE TABLE webhook_deliveries (
	id {{id}},
	program_id BIGINT NOT NULL,
	endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
	message_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload TEXT NOT NULL,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	locked_until {{time}},
	response_code INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	duration_ms BIGINT NOT NULL DEFAULT 0,
	created_at {{time}} NOT NULL,
	delivered_at {{time}},
	UNIQUE (endpoint_id, message_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (program_id, endpoint_id, id DESC);
`),
	// Issue 13: per-key usage, counted in memory and flushed in batches.
	// key_usage holds one row per key, resolution (minute, hour, day),
	// bucket start and outcome; a retention job rolls minutes into hours
	// after 48 hours and hours into days after 90 days. key_usage_clients
	// keeps the latest addresses and user agents each key was used from.
	commonMigration("per-key usage", `
CREATE TABLE key_usage (
	key_id BIGINT NOT NULL,
	program_id BIGINT NOT NULL,
	resolution TEXT NOT NULL,
	bucket {{time}} NOT NULL,
	outcome TEXT NOT NULL,
	count BIGINT NOT NULL,
	PRIMARY KEY (key_id, resolution, bucket, outcome)
);
CREATE INDEX key_usage_program_bucket ON key_usage (program_id, bucket);
CREATE INDEX key_usage_resolution_bucket ON key_usage (resolution, bucket);
CREATE TABLE key_usage_clients (
	key_id BIGINT NOT NULL,
	program_id BIGINT NOT NULL,
	ip TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	last_seen {{time}} NOT NULL,
	count BIGINT NOT NULL,
	PRIMARY KEY (key_id, ip, user_agent)
);
CREATE INDEX key_usage_clients_last_seen ON key_usage_clients (last_seen);
`),
	// Issue 15: passkeys. Each row keeps one WebAuthn credential of an
	// admin (its id base64url-encoded, unique, for the usernameless
	// sign-in; the library's credential as JSON, with its signature
	// counter). admins.passkey_count is kept in the transaction that adds
	// or removes one, so every page knows the two-factor state without a
	// query. passkey_only was the switch that let a passkey sign its admin
	// in alone; since issue 28 any passkey does, and the column is no
	// longer read or written (left in place: dropping it buys nothing and
	// an instance still running the earlier release reads it).
	commonMigration("passkeys", `
CREATE TABLE passkeys (
	id {{id}},
	admin_id BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	credential_id TEXT NOT NULL UNIQUE,
	credential TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	last_used_at {{time}}
);
CREATE INDEX passkeys_admin ON passkeys (admin_id);
ALTER TABLE admins ADD COLUMN passkey_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE admins ADD COLUMN passkey_only BOOLEAN NOT NULL DEFAULT FALSE;
`),
	// The usage page sums a key's buckets since a time per hour or day:
	// this index holds every column it reads, in (key, bucket) order, so
	// the sum reads only the key's range of the index, not the table.
	commonMigration("usage sums index", `
CREATE INDEX key_usage_key_bucket ON key_usage (key_id, program_id, bucket, outcome, count);
`),
	// Audit search with an action filter and few or no matches: one GIN
	// index over the program, the action and the target name's trigrams
	// (btree_gin) finds them without walking every event of the action
	// (audit.Store.List falls back to it after a bounded walk). PostgreSQL
	// only, and only when pg_trgm and btree_gin can be installed; SQLite
	// has no trigram index and is unchanged.
	{
		description: "audit search by action index",
		sqlite:      `SELECT 1;`,
		postgres: `
DO $$
DECLARE
	trgm_schema text;
	gin_schema text;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'btree_gin')
		AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'btree_gin') THEN
		BEGIN
			CREATE EXTENSION IF NOT EXISTS btree_gin SCHEMA public;
		EXCEPTION WHEN OTHERS THEN
			RAISE NOTICE 'btree_gin unavailable (%): audit search by action walks the action index', SQLERRM;
		END;
	END IF;
	SELECT n.nspname INTO trgm_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
	SELECT n.nspname INTO gin_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'btree_gin';
	IF trgm_schema IS NOT NULL AND gin_schema IS NOT NULL THEN
		EXECUTE format('CREATE INDEX audit_events_action_search ON audit_events USING gin (program_id %I.int8_ops, action %I.text_ops, lower(target_name) %I.gin_trgm_ops)', gin_schema, gin_schema, trgm_schema);
	END IF;
END
$$;
`,
	},
	// Issue 14: the expiry sweep claims each notice (7 days, 1 day, expired)
	// of a key's expiry with a row, inserted in the transaction that audits
	// it and writes its outbox event, so of several instances sweeping at
	// once only one emits it. A changed expiry is a new claim.
	commonMigration("key expiry notices", `
CREATE TABLE key_expiry_notices (
	key_id BIGINT NOT NULL,
	kind TEXT NOT NULL,
	expires_at {{time}} NOT NULL,
	program_id BIGINT NOT NULL,
	created_at {{time}} NOT NULL,
	UNIQUE (key_id, kind, expires_at)
);
`),
	// Issue 14: email notices, one row per message and recipient, claimed
	// and retried like webhook deliveries. An invitation's token (the link
	// it mails) is sealed and destroyed once the mail is sent or failed.
	commonMigration("mail deliveries", `
CREATE TABLE mail_deliveries (
	id {{id}},
	program_id BIGINT NOT NULL,
	message_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	recipient TEXT NOT NULL,
	payload TEXT NOT NULL,
	token_sealed {{bytes}},
	token_key_version BIGINT NOT NULL DEFAULT 0,
	status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{time}} NOT NULL,
	locked_until {{time}},
	last_error TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	delivered_at {{time}},
	UNIQUE (message_id, recipient)
);
CREATE INDEX mail_deliveries_due ON mail_deliveries (next_attempt_at) WHERE status = 'pending';
`),
	// Audit search with an action by the target names it matches
	// (audit_target_names.go).
	auditTargetNames,
	// Issue 13: every flush adds to hour rows too; existing minutes are
	// folded into their hours once (usage_hours.go).
	{description: "usage hour sums kept at flush", sqlite: usageHoursSQLite, postgres: usageHoursPostgres},
	// Issue 21: a passkey challenge is answered once. The finish that
	// verifies an assertion inserts the challenge's digest; of simultaneous
	// finishes of one assertion exactly one inserts it. Rows are written
	// only for verified assertions (never by an anonymous options request)
	// and kept until the challenge has expired.
	commonMigration("passkey challenges answered once", `
CREATE TABLE passkey_challenges_used (
	digest TEXT PRIMARY KEY,
	expires_at {{time}} NOT NULL
);
CREATE INDEX passkey_challenges_used_expires_at ON passkey_challenges_used (expires_at);
`),
	// Issue 21 item 2: a re-keying mark is trusted only when it is
	// authenticated under the master key. through_hash pins the legacy
	// chain as the upgrade found it (the hash of the event at through_seq),
	// mac is an HMAC over the mark under the key of key_version. Migrations
	// never see the master key: the process that applies this migration (or
	// the keyed-chain one) seals the marks right after (audit.SealRekeyMarks);
	// a mark without a valid mac is ignored by verify and refused by rekey.
	commonMigration(RekeyMarksMigration, `
ALTER TABLE audit_rekey_pending ADD COLUMN through_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_rekey_pending ADD COLUMN key_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_rekey_pending ADD COLUMN mac TEXT NOT NULL DEFAULT '';
`),
	// Issue 28: a call with a secret that stopped working (a roll's old
	// secret after its overlap, or the one a roll replaced at once) is
	// counted against its key as "old key expired". Only the digest is
	// kept, for 30 days (keys.RetiredSecretRetention); earlier rolls
	// erased theirs, so there is nothing to bring over.
	commonMigration("retired key secrets", `
CREATE TABLE api_key_retired_secrets (
	digest {{bytes}} PRIMARY KEY,
	key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	program_id BIGINT NOT NULL,
	retired_at {{time}} NOT NULL
);
CREATE INDEX api_key_retired_secrets_key ON api_key_retired_secrets (key_id);
CREATE INDEX api_key_retired_secrets_retired_at ON api_key_retired_secrets (retired_at);
`),
	// Management keys (kdm_…) drive the management API. Only what
	// verification needs is kept: the digest, never the secret (a lost key
	// is replaced, never revealed). Idempotency records keep a POST's
	// answer for 24 hours, sealed, to replay it.
	commonMigration("management keys and idempotency records", `
CREATE TABLE management_keys (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id),
	identifier TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	scopes TEXT NOT NULL DEFAULT '',
	digest {{bytes}} NOT NULL UNIQUE,
	last4 TEXT NOT NULL,
	created_by_id BIGINT NOT NULL DEFAULT 0,
	created_by_email TEXT NOT NULL DEFAULT '',
	created_at {{time}} NOT NULL,
	expires_at {{time}},
	last_used_at {{time}},
	revoked_at {{time}}
);
CREATE INDEX management_keys_program ON management_keys (program_id, created_at, id);
CREATE TABLE management_idempotency (
	id {{id}},
	program_id BIGINT NOT NULL REFERENCES programs(id),
	idempotency_key TEXT NOT NULL,
	request_hash TEXT NOT NULL,
	status INTEGER NOT NULL DEFAULT 0,
	sealed {{bytes}},
	key_version BIGINT NOT NULL DEFAULT 0,
	created_at {{time}} NOT NULL,
	UNIQUE (program_id, idempotency_key)
);
CREATE INDEX management_idempotency_created ON management_idempotency (created_at);
`),
	// Issue 24: leak response. A key reported leaked (GitHub secret
	// scanning, the public revocation API) says where it was found; the
	// program says whether a leak inactivates the key or only notifies;
	// leak_reports holds one row per key and alert (the alert's digest),
	// so a replayed alert changes and audits nothing again.
	commonMigration("leaked keys", `
ALTER TABLE api_keys ADD COLUMN leaked_at {{time}};
ALTER TABLE api_keys ADD COLUMN leaked_url TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN leaked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE programs ADD COLUMN leak_response TEXT NOT NULL DEFAULT 'inactivate';
CREATE TABLE leak_reports (
	api_key_id BIGINT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
	alert_digest TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	PRIMARY KEY (api_key_id, alert_digest)
);
`),
	// Issue 26: admin single sign-on (OIDC) and SCIM provisioning. One row
	// per program that set it up: the client secret sealed under the
	// master key, the SCIM token as its SHA-256 digest only (the lookup
	// path). scim_deprovisioned keeps the admins SCIM switched off
	// (active=false): their membership is gone, the SCIM resource stays.
	commonMigration("single sign-on and SCIM provisioning", `
CREATE TABLE single_sign_on (
	program_id BIGINT PRIMARY KEY REFERENCES programs(id) ON DELETE CASCADE,
	issuer_url TEXT NOT NULL DEFAULT '',
	client_id TEXT NOT NULL DEFAULT '',
	client_secret TEXT NOT NULL DEFAULT '',
	allowed_domains TEXT NOT NULL DEFAULT '',
	require_sso BOOLEAN NOT NULL DEFAULT FALSE,
	break_glass_admin_id BIGINT NOT NULL DEFAULT 0,
	scim_token_digest TEXT,
	scim_token_created_at {{time}},
	updated_at {{time}} NOT NULL
);
CREATE UNIQUE INDEX single_sign_on_scim_token ON single_sign_on (scim_token_digest);
CREATE TABLE scim_deprovisioned (
	program_id BIGINT NOT NULL REFERENCES programs(id) ON DELETE CASCADE,
	admin_id BIGINT NOT NULL REFERENCES admins(id) ON DELETE CASCADE,
	created_at {{time}} NOT NULL,
	PRIMARY KEY (program_id, admin_id)
);
`),
	// Issue 27: audit trail pages by target name at 10 million events,
	// indexes built without blocking appends (audit_value_indexes.go).
	auditValueIndexes,
	// Issue 25: per-key quota (0: none) per period ('day' or 'month', UTC)
	// and rate limit override (0: the program's default). The ledger row of
	// a key's period counts units settled as spent (used) and units handed
	// to instances and not yet settled (reserved); used + reserved never
	// exceeds the quota. A threshold row claims an alert once per period.
	commonMigration("API key quotas and rate limit overrides", `
ALTER TABLE api_keys ADD COLUMN quota BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN quota_period TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN rate_limit_per_minute INTEGER NOT NULL DEFAULT 0;
CREATE TABLE api_key_quota_use (
	key_id BIGINT NOT NULL,
	period TEXT NOT NULL,
	used BIGINT NOT NULL DEFAULT 0,
	reserved BIGINT NOT NULL DEFAULT 0,
	last_granted BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (key_id, period)
);
CREATE TABLE api_key_quota_alerts (
	key_id BIGINT NOT NULL,
	period TEXT NOT NULL,
	percent INTEGER NOT NULL,
	created_at {{time}} NOT NULL,
	PRIMARY KEY (key_id, period, percent)
);
`),
	// Leaked management keys: one row per management key and alert, so a
	// replayed alert audits a leaked management key once.
	commonMigration("leaked management keys", `
CREATE TABLE management_key_leak_reports (
	management_key_id BIGINT NOT NULL REFERENCES management_keys(id) ON DELETE CASCADE,
	alert_digest TEXT NOT NULL,
	created_at {{time}} NOT NULL,
	PRIMARY KEY (management_key_id, alert_digest)
);
`),
	{description: "usage day sums kept at flush", sqlite: usageDaysSQLite, postgres: usageDaysPostgres},
	// Issue 28 item 10: /account names each session's browser and the
	// address it signed in from. The signed-in session's values carry both
	// (set at sign-in, kept through rotations) and the store copies them
	// here like admin_id; sessions from before are empty ("Unknown
	// browser").
	commonMigration("session browser and address", `
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip_address TEXT NOT NULL DEFAULT '';
`),
	// Issue 28 items 6 and 9: each webhook attempt as sent and answered
	// (the request body exactly as signed, the response's status, headers
	// and first 4 KiB), the last 20 per delivery; and when each mail was
	// last attempted, so the console can say when the last mail failed
	// (every instance reads the same rows).
	commonMigration("webhook attempts and mail attempt times", `
CREATE TABLE webhook_delivery_attempts (
	id {{id}},
	program_id BIGINT NOT NULL,
	endpoint_id BIGINT NOT NULL,
	delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
	attempt INTEGER NOT NULL,
	attempted_at {{time}} NOT NULL,
	request_headers TEXT NOT NULL DEFAULT '',
	request_body TEXT NOT NULL DEFAULT '',
	response_code INTEGER NOT NULL DEFAULT 0,
	response_headers TEXT NOT NULL DEFAULT '',
	response_body TEXT NOT NULL DEFAULT '',
	response_body_truncated BOOLEAN NOT NULL DEFAULT FALSE,
	error TEXT NOT NULL DEFAULT '',
	duration_ms BIGINT NOT NULL DEFAULT 0,
	UNIQUE (delivery_id, attempt)
);
CREATE INDEX webhook_delivery_attempts_endpoint ON webhook_delivery_attempts (endpoint_id);
ALTER TABLE mail_deliveries ADD COLUMN last_attempt_at {{time}};
CREATE INDEX mail_deliveries_last_attempt ON mail_deliveries (program_id, last_attempt_at);
`),
}

// RekeyMarksMigration is the migration after which re-keying marks must be
// authenticated under the master key.
const RekeyMarksMigration = "authenticated audit re-keying marks"

const keyedAuditDDL = `
ALTER TABLE audit_events ADD COLUMN hash_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN key_version BIGINT NOT NULL DEFAULT 0;
CREATE TABLE audit_rekey_pending (
	program_id BIGINT PRIMARY KEY,
	through_seq BIGINT NOT NULL
);
INSERT INTO audit_rekey_pending (program_id, through_seq)
	SELECT program_id, MAX(seq) FROM audit_events GROUP BY program_id;
CREATE TABLE audit_chain_keys (
	key_version BIGINT PRIMARY KEY,
	wrapped_under BIGINT NOT NULL,
	wrapped {{bytes}} NOT NULL,
	created_at {{time}} NOT NULL
);
`

// auditTablesDDL is the audit chain's tables, the same on both databases;
// the triggers that make it append-only differ.
const auditTablesDDL = `
CREATE TABLE audit_heads (
	program_id BIGINT PRIMARY KEY,
	seq BIGINT NOT NULL,
	hash TEXT NOT NULL
);
CREATE TABLE audit_events (
	id {{id}},
	program_id BIGINT NOT NULL,
	seq BIGINT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL,
	occurred_at {{time}} NOT NULL,
	actor_id BIGINT NOT NULL DEFAULT 0,
	actor_email TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target_type TEXT NOT NULL DEFAULT '',
	target_id TEXT NOT NULL DEFAULT '',
	target_name TEXT NOT NULL DEFAULT '',
	outcome TEXT NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	request_id TEXT NOT NULL DEFAULT '',
	details TEXT NOT NULL DEFAULT '{}',
	UNIQUE (program_id, seq)
);
CREATE INDEX audit_events_program_time ON audit_events (program_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_program_action ON audit_events (program_id, action, id DESC);
CREATE INDEX audit_events_program_actor ON audit_events (program_id, actor_email, id DESC);
CREATE INDEX audit_events_program_target ON audit_events (program_id, target_id, id DESC);
`

func mustSQLite(common string) string {
	s, _ := ddl(common)
	return s
}

func mustPostgres(common string) string {
	_, p := ddl(common)
	return p
}

// SchemaVersion is the version a fully migrated database has.
func SchemaVersion() int { return len(migrations) }

// Version is the schema version the database is at: the number of
// migrations applied, 0 for a database keydesk never migrated.
func Version(ctx context.Context, db *gorm.DB) (int, error) {
	db = db.WithContext(ctx)
	if !db.Migrator().HasTable("schema_migrations") {
		return 0, nil
	}
	var n int64
	if err := db.Raw(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("migrations: unable to read the schema version: %w", err)
	}
	return int(n), nil
}

// Migrate applies every migration the database has not seen yet, each in its
// own transaction. On PostgreSQL an advisory lock keeps two instances
// starting together from applying the same migration twice.
func Migrate(ctx context.Context, db *gorm.DB) (applied int, err error) {
	return MigrateTo(ctx, db, len(migrations))
}

// MigrateTo applies the migrations up to schema version target, as Migrate
// does (tests use it to build a database as an older release left it).
func MigrateTo(ctx context.Context, db *gorm.DB, target int) (applied int, err error) {
	db = db.WithContext(ctx)
	if err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMP NOT NULL)`).Error; err != nil {
		return 0, fmt.Errorf("migrations: unable to create schema_migrations: %w", err)
	}
	if !database.IsPostgres(db) {
		return migrateOn(db, target)
	}
	// PostgreSQL: one connection holds the migration lock for the session,
	// polled rather than waited for outside any transaction. A concurrent
	// index build waits for every transaction open when it starts, so an
	// instance waiting for the lock inside a transaction would deadlock
	// with it (auditValueIndexes).
	err = db.Connection(func(conn *gorm.DB) (err error) {
		for {
			var locked bool
			if err := conn.Raw(`SELECT pg_try_advisory_lock(7341001)`).Scan(&locked).Error; err != nil {
				return fmt.Errorf("migrations: unable to take the migration lock: %w", err)
			}
			if locked {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		defer func() {
			if unlockErr := conn.Exec(`SELECT pg_advisory_unlock(7341001)`).Error; err == nil && unlockErr != nil {
				err = fmt.Errorf("migrations: unable to release the migration lock: %w", unlockErr)
			}
		}()
		applied, err = migrateOn(conn, target)
		return err
	})
	return applied, err
}

// migrateOn applies the migrations up to target on db.
func migrateOn(db *gorm.DB, target int) (applied int, err error) {
	for i, m := range migrations[:min(target, len(migrations))] {
		version := i + 1
		done := false
		if len(m.postgresConcurrently) > 0 && database.IsPostgres(db) {
			if done, err = applyConcurrently(db, version, m); err != nil {
				return applied, fmt.Errorf("migrations: migration %d (%s) failed: %w", version, m.description, err)
			}
			if !done {
				applied++
			}
			continue
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if database.IsPostgres(tx) {
				if err := tx.Exec(`SELECT pg_advisory_xact_lock(7341001)`).Error; err != nil {
					return err
				}
			}
			var count int64
			if err := tx.Raw(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&count).Error; err != nil {
				return err
			}
			if count > 0 {
				done = true
				return nil
			}
			script := m.sqlite
			if database.IsPostgres(tx) {
				script = m.postgres
			}
			if err := execScript(tx, script); err != nil {
				return err
			}
			return tx.Exec(`INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, CURRENT_TIMESTAMP)`, version, m.description).Error
		})
		if err != nil {
			return applied, fmt.Errorf("migrations: migration %d (%s) failed: %w", version, m.description, err)
		}
		if !done {
			applied++
		}
	}
	return applied, nil
}

// execScript runs a multi-statement script. PostgreSQL takes it whole (the
// dollar-quoted function body contains semicolons); SQLite's driver runs
// every statement of one Exec as well.
func execScript(tx *gorm.DB, script string) error {
	return tx.Exec(script).Error
}

// SuspendAuditGuard lifts the append-only guard of audit_events inside tx,
// for the one controlled rewrite keydesk makes: `keydesk audit rekey`
// re-chaining legacy events under the keyed hash. RestoreAuditGuard must
// follow in the same transaction; both are DDL, which SQLite and
// PostgreSQL apply transactionally, so a rollback leaves the guard in
// place, and on PostgreSQL the table lock they take holds every other
// writer until the transaction ends.
func SuspendAuditGuard(tx *gorm.DB) error {
	stmts := []string{`DROP TRIGGER IF EXISTS audit_events_no_update`}
	if database.IsPostgres(tx) {
		stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change`}
	}
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrations: unable to suspend the audit guard: %w", err)
		}
	}
	return nil
}

// RestoreAuditGuard puts back what SuspendAuditGuard lifted, as the
// migrations created it.
func RestoreAuditGuard(tx *gorm.DB) error {
	stmts := []string{`CREATE TRIGGER IF NOT EXISTS audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END`}
	if database.IsPostgres(tx) {
		stmts = []string{`ALTER TABLE audit_events ENABLE ALWAYS TRIGGER audit_events_no_change`}
	}
	for _, stmt := range stmts {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("migrations: unable to restore the audit guard: %w", err)
		}
	}
	return nil
}

// VersionOf is the schema version a migration, named by its description,
// brings the database to; 0 when no migration has that description.
func VersionOf(description string) int {
	for i, m := range migrations {
		if m.description == description {
			return i + 1
		}
	}
	return 0
}
