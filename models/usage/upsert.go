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

// upsertCounts adds counts into key_usage buckets of a resolution, in
// multi-row statements. Rows with the same key, bucket and outcome are
// summed first: one statement must not update a row twice (PostgreSQL
// refuses it). Rows go in key order, so that two instances flushing at
// once lock rows in the same order.
func upsertCounts(tx *gorm.DB, resolution string, counts []Count) error {
	counts = mergeCounts(counts)
	for chunk := range slices.Chunk(counts, upsertRows) {
		var sql strings.Builder
		args := make([]any, 0, 6*len(chunk))
		sql.WriteString(`INSERT INTO key_usage (key_id, program_id, resolution, bucket, outcome, count) VALUES `)
		for i, c := range chunk {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, c.KeyID, c.ProgramID, resolution, c.Bucket.UTC(), c.Outcome, c.Count)
		}
		sql.WriteString(` ON CONFLICT (key_id, resolution, bucket, outcome) DO UPDATE SET count = key_usage.count + excluded.count`)
		if err := tx.Exec(sql.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// upsertClients adds client sightings into key_usage_clients, in
// multi-row statements, merged and ordered as upsertCounts does.
func upsertClients(tx *gorm.DB, clients []Client) error {
	clients = mergeClients(clients)
	for chunk := range slices.Chunk(clients, upsertRows) {
		var sql strings.Builder
		args := make([]any, 0, 6*len(chunk))
		sql.WriteString(`INSERT INTO key_usage_clients (key_id, program_id, ip, user_agent, last_seen, count) VALUES `)
		for i, c := range chunk {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteString("(?, ?, ?, ?, ?, ?)")
			args = append(args, c.KeyID, c.ProgramID, c.IP, c.UserAgent, c.LastSeen.UTC(), c.Count)
		}
		sql.WriteString(` ON CONFLICT (key_id, ip, user_agent) DO UPDATE SET count = key_usage_clients.count + excluded.count,
	last_seen = CASE WHEN excluded.last_seen > key_usage_clients.last_seen THEN excluded.last_seen ELSE key_usage_clients.last_seen END`)
		if err := tx.Exec(sql.String(), args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// mergeCounts sorts counts by key, bucket and outcome and sums the rows
// that share all three.
func mergeCounts(counts []Count) []Count {
	sorted := slices.Clone(counts)
	slices.SortFunc(sorted, compareCounts)
	merged := sorted[:0]
	for _, c := range sorted {
		if n := len(merged); n > 0 && compareCounts(merged[n-1], c) == 0 {
			merged[n-1].Count += c.Count
			continue
		}
		merged = append(merged, c)
	}
	return merged
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
