package keys_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// Ending a roll's overlap, early (Expire old key now) or when it elapses
// (the sweep), announces the key's current digest as well as the old one:
// the caches keep the old sealed secret on the current digest's entry,
// and UI tokens are checked against that entry.
func TestEndingAnOverlapAnnouncesBothDigests(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Demo")
		var mu sync.Mutex
		var announced []string
		store.Revocations.Subscribe(func(_ *gorm.DB, digest []byte) error {
			mu.Lock()
			defer mu.Unlock()
			announced = append(announced, string(digest))
			return nil
		})
		takeAnnounced := func() []string {
			mu.Lock()
			defer mu.Unlock()
			out := announced
			announced = nil
			return out
		}
		k, err := store.Keys.Generate(t.Context(), fx.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Shop"})
		if err != nil {
			t.Fatal(err)
		}
		first := k.Secret

		for _, end := range []string{"Expire old key now", "the overlap elapses"} {
			rolled, err := store.Keys.Roll(t.Context(), fx.Program.ID, audit.Actor{}, k.ID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			takeAnnounced()
			switch end {
			case "Expire old key now":
				if _, err := store.Keys.ExpireOldKey(t.Context(), fx.Program.ID, audit.Actor{}, k.ID); err != nil {
					t.Fatal(err)
				}
			default:
				later := time.Now().Add(time.Hour + time.Second)
				store.SetClock(func() time.Time { return later })
				if n, err := store.Keys.DestroyEndedOverlaps(t.Context()); err != nil || n != 1 {
					t.Fatalf("DestroyEndedOverlaps: %d, %v", n, err)
				}
			}
			got := takeAnnounced()
			for name, secret := range map[string]string{"current": rolled.Secret, "old": first} {
				if !slices.Contains(got, string(keys.KeyDigest(secret))) {
					t.Errorf("%s: the %s digest was not announced", end, name)
				}
			}
			first = rolled.Secret
		}
	})
}
