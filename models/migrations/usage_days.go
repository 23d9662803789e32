package migrations

// The migration "usage day sums kept at flush" (issue 27): usage.Store.Write
// adds every flushed count to its day row as well as its minute and hour
// rows, so the 30-day view reads about 30 day rows per outcome instead of
// 720 hour rows, and the retention job deletes hours older than 90 days
// instead of folding them into days. Until now a day row held only folded
// hours, and a day's calls were its day row plus its hour rows: the hours
// still present are added to their days once here (SQLite stores a UTC
// time as text "2006-01-02 15:04:05+00:00", so a day's first 10
// characters name it). Stop instances of an older release before this
// runs: they write hours without days and would fold them again.
const usageDaysSQLite = `
INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count)
	SELECT key_id, MAX(program_id), 'day', substr(bucket, 1, 10) || ' 00:00:00+00:00', outcome, SUM(count)
	FROM key_usage WHERE resolution = 'hour'
	GROUP BY key_id, substr(bucket, 1, 10), outcome
	ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count;
`

// On PostgreSQL every flush updates an hour and a day row per key and
// outcome. No index holds count, so such an update can stay on the row's
// page (a HOT update: no new index entries, and the page's dead versions
// are pruned when it is next read), but only if the page has room: a
// fillfactor of 70 leaves 30 % of each page that inserts (new minute
// rows) do not take. Autovacuum's default thresholds (20 % of the table
// changed) would let a busy table's statistics and visibility map lag by
// hundreds of thousands of rows: 1 % here. Existing pages keep their fill
// until they are rewritten (VACUUM FULL), new ones get the room.
const usageDaysPostgres = `
INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count)
	SELECT key_id, MAX(program_id), 'day', date_trunc('day', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', outcome, SUM(count)
	FROM key_usage WHERE resolution = 'hour'
	GROUP BY key_id, date_trunc('day', bucket AT TIME ZONE 'UTC'), outcome
	ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count;
ALTER TABLE key_usage SET (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01,
	autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.01);
`
