package keys_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestExpirySweepEmitsEachNoticeOnceUnderRacingSweeps: a 30-day key gets
// api_key.expiring at 7 days and at 1 day, and api_key.expired when it
// expires, once each, audited, even with two instances (separate
// connection pools) sweeping at the same moment in real goroutines.
func TestExpirySweepEmitsEachNoticeOnceUnderRacingSweeps(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStores(t, db)
		other := modeltest.Wrap(t, modeltest.Open(t, db), modeltest.Keyring(t))
		fx := modeltest.Seed(t, store, "Alpha")
		start := time.Now().UTC().Truncate(time.Second)
		at := func(d time.Duration) {
			now := start.Add(d)
			store.SetClock(func() time.Time { return now })
			other.SetClock(func() time.Time { return now })
		}
		at(0)
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Expiring", Expiry: keys.Expiry30Days})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Forever"}); err != nil {
			t.Fatal(err)
		}
		if k.ExpiresAt == nil {
			t.Fatal("no expiry")
		}
		left := k.ExpiresAt.Sub(start)
		race := func(want int) {
			t.Helper()
			var wg sync.WaitGroup
			counts := make([]int, 4)
			for i := range counts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := store.Keys
					if i%2 == 1 {
						s = other.Keys
					}
					n, err := s.SweepExpiry(ctx)
					if err != nil {
						t.Error(err)
					}
					counts[i] = n
				}()
			}
			wg.Wait()
			total := 0
			for _, n := range counts {
				total += n
			}
			if total != want {
				t.Fatalf("sweeps emitted %v, want %d in all", counts, want)
			}
		}
		at(left - 8*24*time.Hour)
		race(0)
		at(left - 7*24*time.Hour + time.Hour)
		race(1)
		race(0)
		at(left - 23*time.Hour)
		race(1)
		race(0)
		at(left + time.Second)
		race(1)
		race(0)
		var events []struct {
			EventType string
			Payload   string
		}
		store.DB.Raw(`SELECT event_type, payload FROM outbox_events WHERE event_type IN (?, ?) ORDER BY id`, outbox.EventKeyExpiring, outbox.EventKeyExpired).Scan(&events)
		if len(events) != 3 || events[0].EventType != outbox.EventKeyExpiring || events[1].EventType != outbox.EventKeyExpiring || events[2].EventType != outbox.EventKeyExpired {
			t.Fatalf("outbox events %+v", events)
		}
		for _, e := range events {
			if !strings.Contains(e.Payload, k.Identifier) || !strings.Contains(e.Payload, `"notice"`) || !strings.Contains(e.Payload, `"expires_at"`) ||
				k.Secret == "" || strings.Contains(e.Payload, k.Secret) {
				t.Fatalf("payload %s", e.Payload)
			}
		}
		var audited int64
		store.DB.Table("audit_events").Where("program_id = ? AND action IN ? AND target_id = ?", fx.Program.ID,
			[]string{audit.ActionKeyExpiring, audit.ActionKeyExpired}, k.Identifier).Count(&audited)
		if audited != 3 {
			t.Fatalf("%d audit events, want 3", audited)
		}
		if _, brk, err := store.Audit.VerifyChain(ctx, fx.Program.ID); err != nil || brk != nil {
			t.Fatalf("chain after racing sweeps: %v %+v", err, brk)
		}
	})
}

// TestExpirySweepSkipsToTheMostPressingNotice: a key first seen by the
// sweep within a day of its expiry gets only the 1-day notice; a changed
// expiry is noticed afresh.
func TestExpirySweepSkipsToTheMostPressingNotice(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Alpha")
		start := time.Now().UTC().Truncate(time.Second)
		store.SetClock(func() time.Time { return start })
		k, err := store.Keys.Generate(ctx, fx.Program.ID, audit.Actor{AdminID: fx.Full.ID}, keys.KeyInput{Name: "Soon", Expiry: keys.Expiry7Days})
		if err != nil {
			t.Fatal(err)
		}
		later := k.ExpiresAt.Add(-12 * time.Hour)
		store.SetClock(func() time.Time { return later })
		if n, err := store.Keys.SweepExpiry(ctx); err != nil || n != 1 {
			t.Fatalf("emitted %d, %v", n, err)
		}
		var kinds []string
		store.DB.Raw(`SELECT kind FROM key_expiry_notices WHERE key_id = ?`, k.ID).Scan(&kinds)
		if len(kinds) != 1 || kinds[0] != keys.NoticeOneDay {
			t.Fatalf("notices %v", kinds)
		}
		// A new expiry (as an edit would set) is a new claim.
		newExpiry := later.Add(3 * time.Hour)
		store.DB.Exec(`UPDATE api_keys SET expires_at = ? WHERE id = ?`, newExpiry, k.ID)
		if n, err := store.Keys.SweepExpiry(ctx); err != nil || n != 1 {
			t.Fatalf("after the expiry changed: emitted %d, %v", n, err)
		}
		if n, _ := store.Keys.SweepExpiry(ctx); n != 0 {
			t.Fatalf("emitted %d again", n)
		}
	})
}
