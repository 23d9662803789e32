package keys_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

var newMasterKey = []byte("fedcba9876543210fedcba9876543210")

func mustKeyring(t *testing.T, masterKeys ...[]byte) *keys.Keyring {
	t.Helper()
	k, err := keys.NewKeyring(masterKeys[0], masterKeys[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// allSecrets opens every key row with ring and returns row id → plaintext.
func allSecrets(t *testing.T, store *modeltest.Stores, ring *keys.Keyring) map[int64]string {
	t.Helper()
	var keyList []keys.APIKey
	if err := store.DB.Order("id").Find(&keyList).Error; err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, k := range keyList {
		secret, err := ring.Open(k.ID, k.Sealed, k.KeyVersion)
		if err != nil {
			t.Fatalf("key row %d (version %d) does not open: %v", k.ID, k.KeyVersion, err)
		}
		if string(keys.KeyDigest(secret)) != string(k.Digest) {
			t.Fatalf("key row %d opens to a secret that does not match its digest", k.ID)
		}
		out[k.ID] = secret
	}
	return out
}

func TestMasterKeyRotationSurvivesInterruption(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.Open(t, db)
		oldStore := modeltest.Wrap(t, gdb, mustKeyring(t, modeltest.MasterKey))
		a := modeltest.Seed(t, oldStore, "Rotation A")
		b := modeltest.Seed(t, oldStore, "Rotation B")
		for i := range 7 {
			if _, err := oldStore.Keys.Generate(t.Context(), a.Program.ID, audit.Actor{AdminID: a.Full.ID, Email: a.Full.Email}, keys.KeyInput{Name: fmt.Sprintf("A%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if _, err := oldStore.Keys.Generate(t.Context(), b.Program.ID, audit.Actor{AdminID: b.Full.ID, Email: b.Full.Email}, keys.KeyInput{Name: fmt.Sprintf("B%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		originals := allSecrets(t, oldStore, mustKeyring(t, modeltest.MasterKey))
		if len(originals) != 12 { // 10 keys + 2 default keys
			t.Fatalf("%d keys before rotation, want 12", len(originals))
		}

		// Without the previous master key nothing can be re-sealed, and
		// nothing changes.
		alone := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey))
		rep, err := alone.Keys.RotateMasterKey(t.Context(), audit.Actor{Email: "cli"}, keys.RotationOptions{})
		if err == nil || !strings.Contains(err.Error(), "KEYDESK_MASTER_KEY_PREVIOUS") || rep.Resealed != 0 {
			t.Fatalf("rotation without the previous key: %+v, %v", rep, err)
		}
		if got := allSecrets(t, oldStore, mustKeyring(t, modeltest.MasterKey)); len(got) != 12 {
			t.Fatal("a failed rotation changed keys")
		}

		both := mustKeyring(t, newMasterKey, modeltest.MasterKey)
		store := modeltest.Wrap(t, gdb, both)
		actor := audit.Actor{Email: "cli", UserAgent: "keydesk-cli"}

		// Crash inside the third transaction: two batches of 3 commit, the
		// third rolls back.
		crash := errors.New("simulated crash")
		rep, err = store.Keys.RotateMasterKey(t.Context(), actor, keys.RotationOptions{BatchSize: 3, BeforeCommit: func(batch int) error {
			if batch == 3 {
				return crash
			}
			return nil
		}})
		if !errors.Is(err, crash) || rep.Resealed != 6 || rep.Batches != 2 || rep.Pending != 6 {
			t.Fatalf("interrupted rotation: %+v, %v", rep, err)
		}
		if got := allSecrets(t, store, both); !equalSecrets(got, originals) {
			t.Fatal("keys changed across the interrupted rotation")
		}

		// Stop after 4 more keys: a limit is a clean stop, not a failure of
		// any key.
		rep, err = store.Keys.RotateMasterKey(t.Context(), actor, keys.RotationOptions{BatchSize: 3, MaxKeys: 4})
		if !errors.Is(err, keys.ErrRotationStopped) || rep.Resealed != 4 || rep.Pending != 2 {
			t.Fatalf("limited rotation: %+v, %v", rep, err)
		}

		// Resume to the end.
		rep, err = store.Keys.RotateMasterKey(t.Context(), actor, keys.RotationOptions{BatchSize: 3})
		if err != nil || rep.Resealed != 2 || rep.Pending != 0 || rep.Current != 12 {
			t.Fatalf("resumed rotation: %+v, %v", rep, err)
		}
		// Running again has nothing to do.
		rep, err = store.Keys.RotateMasterKey(t.Context(), actor, keys.RotationOptions{})
		if err != nil || rep.Resealed != 0 || rep.Batches != 0 || rep.Current != 12 {
			t.Fatalf("second run: %+v, %v", rep, err)
		}

		// The previous master key can now be dropped: the new one alone
		// opens every key, and each is the key it was before.
		if got := allSecrets(t, alone, mustKeyring(t, newMasterKey)); !equalSecrets(got, originals) {
			t.Fatal("keys differ after rotation")
		}

		// Audited in the programs' chains, counts only, chains intact.
		var events []audit.Event
		if err := gdb.Where("action = ?", audit.ActionMasterKeyRotated).Order("id").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, e := range events {
			if e.TargetType == audit.TargetAuditTrail {
				continue // the audit trail's own anchor under the new key
			}
			if e.ProgramID != a.Program.ID && e.ProgramID != b.Program.ID {
				t.Fatalf("rotation event in chain %d", e.ProgramID)
			}
			var n int64
			if _, err := fmt.Sscanf(e.Details, `{"key_version":%d,"resealed":%d}`, new(int64), &n); err != nil {
				t.Fatalf("details %q: %v", e.Details, err)
			}
			total += n
			for _, secret := range originals {
				if strings.Contains(e.Details+e.TargetName+e.TargetID, secret) {
					t.Fatal("a key reached the audit trail")
				}
			}
		}
		if total != 12 {
			t.Fatalf("audit events account for %d re-sealed keys, want 12 (%d events)", total, len(events))
		}
		for _, p := range []int64{a.Program.ID, b.Program.ID} {
			if _, brk, err := store.Audit.VerifyChain(t.Context(), p); err != nil || brk != nil {
				t.Fatalf("chain %d: %v %v", p, brk, err)
			}
		}
	})
}

func equalSecrets(a, b map[int64]string) bool {
	if len(a) != len(b) {
		return false
	}
	for id, s := range a {
		if b[id] != s {
			return false
		}
	}
	return true
}

// A key in its roll overlap keeps two secrets; rotation re-seals both, so
// once the previous master key is gone the old secret still opens (UI
// tokens signed with it keep working until the overlap ends).
func TestMasterKeyRotationResealsARolledKeysOldSecret(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.Open(t, db)
		oldStore := modeltest.Wrap(t, gdb, mustKeyring(t, modeltest.MasterKey))
		fx := modeltest.Seed(t, oldStore, "Rolled")
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		k, err := oldStore.Keys.Generate(t.Context(), fx.Program.ID, actor, keys.KeyInput{Name: "Shop"})
		if err != nil {
			t.Fatal(err)
		}
		before, err := oldStore.Keys.CredentialByDigest(t.Context(), k.Digest)
		if err != nil {
			t.Fatal(err)
		}
		oldSecret, err := oldStore.Keys.Unseal(before)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := oldStore.Keys.Roll(t.Context(), fx.Program.ID, actor, k.ID, time.Hour); err != nil {
			t.Fatal(err)
		}

		rotating := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey, modeltest.MasterKey))
		rep, err := rotating.Keys.RotateMasterKey(t.Context(), audit.Actor{Email: "cli"}, keys.RotationOptions{})
		if err != nil || rep.Pending != 0 {
			t.Fatalf("rotation: %+v, %v", rep, err)
		}

		after := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey))
		c, err := after.Keys.CredentialByDigest(t.Context(), keys.KeyDigest(oldSecret))
		if err != nil || c == nil {
			t.Fatalf("old secret not found during its overlap: %v", err)
		}
		got, err := after.Keys.UnsealOld(c)
		if err != nil || got != oldSecret {
			t.Fatalf("old secret after rotation without the previous master key: %q, %v", got, err)
		}
		if _, err := after.Keys.Unseal(c); err != nil {
			t.Fatalf("new secret after rotation: %v", err)
		}
	})
}
