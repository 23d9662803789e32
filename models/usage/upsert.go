package usage

import (
	"cmp"
	"slices"
	"strings"

	"gorm.io/gorm"
)

// upsertRows is how many rows one INSERT carries: a flush of thousands of
// keys is dozens of statements instead of one statement per row. More
// rows a statement is slower again on SQLite, whose driver binds
// parameters in time quadratic in their number (BenchmarkFlushMinuteOfTraffic:
// 100 rows beat 200 and 500).
const upsertRows = 100

// upsertCounts adds counts into key_usage buckets of a resolution. No two
// counts may share a row (PostgreSQL refuses to update a row twice in one
// statement) and they come in key order, so that two instances flushing
// at once lock rows in the same order: sumPer's output.
func upsertCounts(tx *gorm.DB, resolution string, counts []Count) error {
	return insertInChunks(tx, counts,
		`INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count) VALUES `,
		` ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count`,
		func(c Count) []any {
			return []any{c.KeyID, c.ProgramID, resolution, c.Bucket.UTC(), c.Outcome, c.Count}
		})
}

// upsertClients adds client sightings into key_usage_clients, merged and
// in key order first (Write takes any batch).
func upsertClients(tx *gorm.DB, clients []Client) error {
	return insertInChunks(tx, mergeClients(clients),
		`INSERT INTO key_usage_clients (key_id, program_id, ip, user_agent, last_seen, count) VALUES `,
		` ON CONFLICT (key_id, ip, user_agent) DO UPDATE SET count = key_usage_clients.count + excluded.count,
	last_seen = CASE WHEN excluded.last_seen > key_usage_clients.last_seen THEN excluded.last_seen ELSE key_usage_clients.last_seen END`,
		func(c Client) []any { return []any{c.KeyID, c.ProgramID, c.IP, c.UserAgent, c.LastSeen.UTC(), c.Count} })
}

// insertInChunks runs insert + one "(?, …)" tuple per row + onConflict,
// upsertRows rows a statement; values are a row's parameters.
func insertInChunks[T any](tx *gorm.DB, rows []T, insert, onConflict string, values func(T) []any) error {
	for chunk := range slices.Chunk(rows, upsertRows) {
		var sql strings.Builder
		var args []any
		sql.WriteString(insert)
		for i, r := range chunk {
			v := values(r)
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?" + strings.Repeat(", ?", len(v)-1) + ")")
			args = append(args, v...)
		}
		sql.WriteString(onConflict)
		if err := tx.Exec(sql.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// mergeClients sorts sightings by key, address and user agent and sums
// the rows that share all three, keeping the latest time.
func mergeClients(clients []Client) []Client {
	sorted := slices.Clone(clients)
	slices.SortFunc(sorted, compareClients)
	merged := sorted[:0]
	for _, c := range sorted {
		if n := len(merged); n > 0 && compareClients(merged[n-1], c) == 0 {
			merged[n-1].Count += c.Count
			if c.LastSeen.After(merged[n-1].LastSeen) {
				merged[n-1].LastSeen = c.LastSeen
			}
			continue
		}
		merged = append(merged, c)
	}
	return merged
}

func compareCounts(a, b Count) int {
	if a.KeyID != b.KeyID {
		return cmp.Compare(a.KeyID, b.KeyID)
	}
	if c := a.Bucket.Compare(b.Bucket); c != 0 {
		return c
	}
	return cmp.Compare(a.Outcome, b.Outcome)
}

func compareClients(a, b Client) int {
	if a.KeyID != b.KeyID {
		return cmp.Compare(a.KeyID, b.KeyID)
	}
	if a.IP != b.IP {
		return cmp.Compare(a.IP, b.IP)
	}
	return cmp.Compare(a.UserAgent, b.UserAgent)
}
