package apiauth_test

import (
	"errors"
	"testing"
	"time"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// Management keys are verified from a cache (a change behind the store's
// back is not seen), and a revocation through the store drops the entry
// at once; expired, unknown and malformed keys are refused; "last used"
// reaches the row only when flushed.
func TestManagementVerifierCachesAndFollowsRevocations(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		m := apiauth.NewManagementVerifier(store.ManagementKeys, v, store.Clock)
		k, err := store.ManagementKeys.Create(t.Context(), f.Program.ID, audit.Actor{}, managementkeys.Input{Name: "CI", Scopes: []string{"keys:read"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Verify(t.Context(), k.Secret)
		if err != nil || got.ID != k.ID || got.ProgramID != f.Program.ID || !got.HasScope(managementkeys.ScopeKeysRead) || got.HasScope(managementkeys.ScopeKeysWrite) {
			t.Fatalf("verify: %+v %v", got, err)
		}
		for _, bad := range []string{"", "kdm_short", managementkeys.NewSecret(), "kd_" + k.Secret[4:]} {
			if _, err := m.Verify(t.Context(), bad); !errors.Is(err, apiauth.ErrUnauthorized) {
				t.Fatalf("%q: %v, want unauthorized", bad, err)
			}
		}
		if v.CachingEnabled() {
			store.DB.Exec(`UPDATE management_keys SET revoked_at = ? WHERE id = ?`, time.Now(), k.ID)
			if _, err := m.Verify(t.Context(), k.Secret); err != nil {
				t.Fatal("not cached: this test would prove nothing")
			}
			store.DB.Exec(`UPDATE management_keys SET revoked_at = NULL WHERE id = ?`, k.ID)
		}
		if err := m.FlushLastUsed(t.Context()); err != nil {
			t.Fatal(err)
		}
		var used []time.Time
		store.DB.Raw(`SELECT last_used_at FROM management_keys WHERE id = ? AND last_used_at IS NOT NULL`, k.ID).Scan(&used)
		if len(used) != 1 {
			t.Fatal("last used did not move")
		}
		if _, err := store.ManagementKeys.Revoke(t.Context(), f.Program.ID, audit.Actor{}, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(t.Context(), k.Secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("revoked key: %v", err)
		}

		expiring, err := store.ManagementKeys.Create(t.Context(), f.Program.ID, audit.Actor{}, managementkeys.Input{Name: "Short", Scopes: []string{"keys:read"}, Expiry: managementkeys.Expiry30Days})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Verify(t.Context(), expiring.Secret); err != nil {
			t.Fatal(err)
		}
		store.SetClock(func() time.Time { return time.Now().AddDate(0, 0, 31) })
		if _, err := m.Verify(t.Context(), expiring.Secret); !errors.Is(err, apiauth.ErrExpired) {
			t.Fatalf("expired key: %v", err)
		}
	})
}
