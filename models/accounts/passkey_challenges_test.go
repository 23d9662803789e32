package accounts_test

import (
	"sync"
	"testing"
	"time"

	"keydesk/models/modeltest"
)

// TestPasskeyChallengeSpentOnce: of simultaneous spends of one challenge
// exactly one is first; the record goes with housekeeping once expired.
func TestPasskeyChallengeSpentOnce(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		ctx := t.Context()
		expires := time.Now().Add(5 * time.Minute)
		var wg sync.WaitGroup
		var mu sync.Mutex
		first := 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Accounts.SpendPasskeyChallenge(ctx, "challenge-1", expires)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					first++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if first != 1 {
			t.Fatalf("%d of 10 simultaneous spends were first, want 1", first)
		}
		if ok, err := s.Accounts.SpendPasskeyChallenge(ctx, "challenge-2", expires); err != nil || !ok {
			t.Fatalf("another challenge: %v, %v; want first", ok, err)
		}

		if _, err := s.Accounts.PurgeAuthFailures(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.Accounts.SpendPasskeyChallenge(ctx, "challenge-1", expires); ok {
			t.Fatal("housekeeping forgot a challenge that has not expired")
		}
		s.SetClock(func() time.Time { return expires.Add(time.Second) })
		if _, err := s.Accounts.PurgeAuthFailures(ctx); err != nil {
			t.Fatal(err)
		}
		var left int64
		if err := s.DB.Table("passkey_challenges_used").Count(&left).Error; err != nil || left != 0 {
			t.Fatalf("%d answered challenges left after they expired (%v), want 0", left, err)
		}
	})
}
