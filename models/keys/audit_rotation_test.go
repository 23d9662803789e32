package keys_test

import (
	"testing"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// After keys rotate-master, the audit trail written under the previous
// master key still verifies, and its checkpoints too, once the previous key
// is no longer configured; and someone holding the old key cannot rewrite
// the events before the rotation, because the chain continues under the
// new key from their head.
func TestMasterKeyRotationKeepsTheAuditTrailVerifiable(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		gdb := modeltest.Open(t, db)
		oldStore := modeltest.Wrap(t, gdb, mustKeyring(t, modeltest.MasterKey))
		a := modeltest.Seed(t, oldStore, "Audit rotation A")
		modeltest.Seed(t, oldStore, "Audit rotation B")
		if _, err := oldStore.Keys.Generate(t.Context(), a.Program.ID, audit.Actor{Email: a.Full.Email}, keys.KeyInput{Name: "Shop"}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := oldStore.Audit.Record(t.Context(), audit.SystemProgramID, audit.Actor{IP: "192.0.2.9"}, audit.Entry{Action: audit.ActionSignInFailed, Outcome: audit.OutcomeFailure}); err != nil {
				t.Fatal(err)
			}
		}
		before, err := oldStore.Audit.Checkpoints(t.Context(), nil)
		if err != nil || len(before) != 3 {
			t.Fatalf("checkpoints before rotation: %d %v", len(before), err)
		}

		// Before the rotation, the new key alone cannot verify old events.
		newOnly := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey))
		if _, brk, err := newOnly.Audit.VerifyChain(t.Context(), a.Program.ID); err != nil || brk == nil {
			t.Fatalf("old events verified without their key: %v %v", brk, err)
		}

		both := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey, modeltest.MasterKey))
		rep, err := both.Keys.RotateMasterKey(t.Context(), audit.Actor{Email: "cli"}, keys.RotationOptions{})
		if err != nil || rep.Pending != 0 {
			t.Fatalf("rotation: %+v %v", rep, err)
		}
		// Every chain ends under the new key: the ones whose keys were
		// re-sealed by the re-seal event, the others by an anchor.
		if rep.AnchoredChains != 1 { // the system chain; A and B had keys
			t.Fatalf("anchored %d chains, want 1", rep.AnchoredChains)
		}

		// KEYDESK_MASTER_KEY_PREVIOUS removed: everything still verifies.
		ids, err := newOnly.Audit.ChainIDs(t.Context())
		if err != nil || len(ids) != 3 {
			t.Fatalf("chains: %v %v", ids, err)
		}
		for _, id := range ids {
			if n, brk, err := newOnly.Audit.VerifyChain(t.Context(), id); err != nil || brk != nil {
				t.Fatalf("chain %d after rotation, new key only: n=%d %v %v", id, n, brk, err)
			}
		}
		for _, cp := range before {
			if err := newOnly.Audit.VerifyCheckpoint(t.Context(), cp); err != nil {
				t.Fatalf("checkpoint signed before the rotation: %v", err)
			}
		}
		pubs, err := newOnly.Audit.PublicKeys(t.Context())
		if err != nil || len(pubs) != 2 || !pubs[0].Current || pubs[0].KeyVersion != newOnly.Keys.Keyring().CurrentVersion() {
			t.Fatalf("public keys: %+v %v", pubs, err)
		}

		// Someone holding the old master key rewrites the system chain's
		// events from before the rotation, under the old key.
		oldKeys := mustKeyring(t, modeltest.MasterKey).AuditKeys()
		stmts := []string{`DROP TRIGGER audit_events_no_update`}
		if gdb.Dialector.Name() == "postgres" {
			stmts = []string{`ALTER TABLE audit_events DISABLE TRIGGER USER`}
		}
		for _, s := range stmts {
			if err := gdb.Exec(s).Error; err != nil {
				t.Fatal(err)
			}
		}
		var events []audit.Event
		gdb.Where("program_id = ? AND key_version = ?", audit.SystemProgramID, oldKeys.CurrentVersion()).Order("seq").Find(&events)
		if len(events) != 3 {
			t.Fatalf("%d old system events", len(events))
		}
		prev := ""
		for i := range events {
			e := &events[i]
			if i == 0 {
				e.IP = "198.51.100.1"
			}
			e.PrevHash = prev
			e.Hash, _ = oldKeys.ComputeHash(e)
			if err := gdb.Save(e).Error; err != nil {
				t.Fatal(err)
			}
			prev = e.Hash
		}
		_, brk, err := newOnly.Audit.VerifyChain(t.Context(), audit.SystemProgramID)
		if err != nil || brk == nil || brk.Seq != 4 {
			t.Fatalf("rewrite under the old key: %v %v, want a break at the anchor (seq 4)", brk, err)
		}
	})
}
