package keys_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// manyKeys generates n keys across as many programs as the 20-key limit
// needs and returns their IDs.
func manyKeys(t *testing.T, s *modeltest.Stores, n int) []int64 {
	t.Helper()
	var ids []int64
	for p := 0; len(ids) < n; p++ {
		program, err := s.Keys.CreateProgram(t.Context(), audit.Actor{}, fmt.Sprintf("Program %d", p))
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < keys.MaxAPIKeysPerProgram && len(ids) < n; j++ {
			k, err := s.Keys.Generate(t.Context(), program.ID, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("Key %d", j)})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, k.ID)
		}
	}
	return ids
}

func lastUsedOf(t *testing.T, s *modeltest.Stores, ids []int64) map[int64]time.Time {
	t.Helper()
	var rows []struct {
		ID         int64
		LastUsedAt *time.Time
	}
	if err := s.DB.Raw(`SELECT id, last_used_at FROM api_keys WHERE id IN ?`, ids).Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int64]time.Time{}
	for _, r := range rows {
		if r.LastUsedAt != nil {
			out[r.ID] = r.LastUsedAt.UTC()
		}
	}
	return out
}

// TestRecordLastUsedMovesTimesForwardOnlyInBatches: more keys than one
// statement moves, some times ahead of the stored ones and some behind:
// every row ends at the later of the two.
func TestRecordLastUsedMovesTimesForwardOnlyInBatches(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		ids := manyKeys(t, s, 230)
		base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		first := map[int64]time.Time{}
		for i, id := range ids {
			first[id] = base.Add(time.Duration(i) * time.Second)
		}
		if err := s.Keys.RecordLastUsed(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		second := map[int64]time.Time{}
		want := map[int64]time.Time{}
		for i, id := range ids {
			if i%2 == 0 {
				second[id] = first[id].Add(time.Hour) // ahead
				want[id] = second[id]
			} else {
				second[id] = first[id].Add(-time.Hour) // behind: ignored
				want[id] = first[id]
			}
		}
		second[1<<40] = base // no such key
		if err := s.Keys.RecordLastUsed(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		got := lastUsedOf(t, s, ids)
		for _, id := range ids {
			if !got[id].Equal(want[id]) {
				t.Fatalf("key %d: last used %v, want %v", id, got[id], want[id])
			}
		}
	})
}

// TestRecordLastUsedFromTwoInstancesAtOnce: two instances flush the same
// keys at the same moment, again and again; neither fails (no deadlock)
// and every row ends at the latest time either recorded.
func TestRecordLastUsedFromTwoInstancesAtOnce(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		ids := manyKeys(t, s, 150)
		base := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
		want := map[int64]time.Time{}
		for round := range 10 {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for instance := range 2 {
				batch := map[int64]time.Time{}
				for i, id := range ids {
					at := base.Add(time.Duration(round*1000+i*7+instance*3) * time.Millisecond)
					batch[id] = at
					if at.After(want[id]) {
						want[id] = at
					}
				}
				wg.Go(func() { errs[instance] = s.Keys.RecordLastUsed(t.Context(), batch) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		}
		got := lastUsedOf(t, s, ids)
		for _, id := range ids {
			if !got[id].Equal(want[id]) {
				t.Fatalf("key %d: last used %v, want %v", id, got[id], want[id])
			}
		}
	})
}
