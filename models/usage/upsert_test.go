package usage_test

import (
	"testing"
	"time"

	"keydesk/models/metrics"
	"keydesk/models/modeltest"
	"keydesk/models/usage"
)

// A flush larger than one statement's rows, with rows repeated inside it,
// adds exactly what it holds; a second flush of the same adds it again.
func TestWriteAddsLargeBatchesWithRepeatedRowsExactly(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		minute := time.Date(2026, 3, 1, 12, 7, 0, 0, time.UTC)
		const keys = 1203     // several full statements and a partial one
		const repeated = 1202 // in the last statement
		var counts []usage.Count
		var clients []usage.Client
		for k := int64(1); k <= keys; k++ {
			counts = append(counts, usage.Count{KeyID: k, ProgramID: 10, Bucket: minute, Outcome: metrics.OutcomeValid, Count: k})
			clients = append(clients, usage.Client{KeyID: k, ProgramID: 10, IP: "192.0.2.1", UserAgent: "curl/8", LastSeen: minute.Add(time.Second), Count: 1})
		}
		// The key called repeated twice more in the same batch (and in the same statement
		// as its first row once sorted): summed, the later time kept.
		counts = append(counts, usage.Count{KeyID: repeated, ProgramID: 10, Bucket: minute, Outcome: metrics.OutcomeValid, Count: 100})
		clients = append(clients, usage.Client{KeyID: repeated, ProgramID: 10, IP: "192.0.2.1", UserAgent: "curl/8", LastSeen: minute.Add(30 * time.Second), Count: 4})
		for range 2 {
			if err := s.Usage.Write(t.Context(), counts, clients); err != nil {
				t.Fatal(err)
			}
		}
		var got struct{ Rows, Total, Repeated int64 }
		if err := s.DB.Raw(`SELECT COUNT(*) AS rows, SUM(count) AS total, SUM(CASE WHEN key_id = ? THEN count ELSE 0 END) AS repeated
FROM key_usage WHERE resolution = ? AND bucket = ?`, repeated, usage.Minute, minute).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		want := 2 * (keys*(keys+1)/2 + 100)
		if got.Rows != keys || got.Total != int64(want) || got.Repeated != 2*(repeated+100) {
			t.Errorf("minute rows %d (want %d), total %d (want %d), key %d: %d (want %d)", got.Rows, keys, got.Total, want, repeated, got.Repeated, 2*(repeated+100))
		}
		var c struct {
			Rows, Total int64
			Repeated    int64
		}
		if err := s.DB.Raw(`SELECT COUNT(*) AS rows, SUM(count) AS total, SUM(CASE WHEN key_id = ? THEN count ELSE 0 END) AS repeated FROM key_usage_clients`, repeated).Scan(&c).Error; err != nil {
			t.Fatal(err)
		}
		if c.Rows != keys || c.Total != 2*(keys+4) || c.Repeated != 2*(1+4) {
			t.Errorf("client rows %d (want %d), total %d (want %d), key %d: %d (want 10)", c.Rows, keys, c.Total, 2*(keys+4), repeated, c.Repeated)
		}
		seen, err := s.Usage.Clients(t.Context(), 10, repeated, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 1 || !seen[0].LastSeen.Equal(minute.Add(30*time.Second)) {
			t.Errorf("repeated key's clients: %+v, want one seen last at %s", seen, minute.Add(30*time.Second))
		}
	})
}
