package migrations

// The migration "usage hour sums kept at flush" (issue 13): usage.Store.Write
// adds every flushed count to its hour row as well as its minute row, so
// the usage page reads at most 24 rows per key, outcome and day, and the
// retention job deletes old minutes instead of folding them into hours.
// Until now hour rows held only folded minutes: the minutes still present
// are folded into their hours once here (SQLite stores a UTC time as text
// "2006-01-02 15:04:05+00:00", so an hour's first 13 characters name it).
// Stop instances of an older release before this runs: they write minutes
// without hours and would fold them again.
const usageHoursSQLite = `
INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count)
	SELECT key_id, MAX(program_id), 'hour', substr(bucket, 1, 13) || ':00:00+00:00', outcome, SUM(count)
	FROM key_usage WHERE resolution = 'minute'
	GROUP BY key_id, substr(bucket, 1, 13), outcome
	ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count;
DROP INDEX key_usage_key_bucket;
CREATE INDEX key_usage_key_resolution_bucket ON key_usage (key_id, program_id, resolution, bucket, outcome, count);
DROP INDEX key_usage_program_bucket;
CREATE INDEX key_usage_program_resolution_bucket ON key_usage (program_id, resolution, bucket);
`

// The read indexes lead with the resolution after the key (or program), so
// the usage page's sums (usage.Store.Sums) and the API Keys list's 24-hour
// counts (usage.Store.RequestsSince) read a range of hour rows, never the
// minutes. Every flush updates the count of the hour rows it adds to: on
// PostgreSQL no index holds count, as an index that does gets a new entry
// per update that only VACUUM removes (a covering key index grew to 225 MB
// under 30 days of once-a-minute flushes for 20 keys and the page's sum
// read 28 ms without statistics, 6 ms without count). SQLite updates in
// place and its row lookups are slow, so there the key index covers the
// sum (2.6 ms against 12 ms for the 30-day page of one key).
const usageHoursPostgres = `
INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count)
	SELECT key_id, MAX(program_id), 'hour', date_trunc('hour', bucket AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', outcome, SUM(count)
	FROM key_usage WHERE resolution = 'minute'
	GROUP BY key_id, date_trunc('hour', bucket AT TIME ZONE 'UTC'), outcome
	ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count;
DROP INDEX key_usage_key_bucket;
CREATE INDEX key_usage_key_resolution_bucket ON key_usage (key_id, program_id, resolution, bucket);
DROP INDEX key_usage_program_bucket;
CREATE INDEX key_usage_program_resolution_bucket ON key_usage (program_id, resolution, bucket);
`
