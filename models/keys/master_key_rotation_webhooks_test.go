package keys_test

import (
	"slices"
	"testing"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestMasterKeyRotationResealsWebhookSecrets: after keys rotate-master,
// webhook signing secrets (current and, within a rotation's overlap,
// previous) and a pending invitation mail's token open with the new master
// key alone, unchanged; the re-seal is audited and the chain verifies.
func TestMasterKeyRotationResealsWebhookSecrets(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := t.Context()
		gdb := modeltest.Open(t, db)
		oldStore := modeltest.WrapWith(t, gdb, mustKeyring(t, modeltest.MasterKey), outbox.Options{Mail: true})
		fx := modeltest.Seed(t, oldStore, "Rotation W")
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		ep, first, err := oldStore.Outbox.CreateEndpoint(ctx, fx.Program.ID, actor, outbox.EndpointInput{URL: "https://hooks.example.test/k", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatal(err)
		}
		_, second, err := oldStore.Outbox.RotateSecret(ctx, fx.Program.ID, actor, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, token, err := oldStore.Accounts.Invite(ctx, actor, fx.Program.ID, "pending@example.test", accounts.AccessLimited, nil)
		if err != nil {
			t.Fatal(err)
		}

		both := modeltest.Wrap(t, gdb, mustKeyring(t, newMasterKey, modeltest.MasterKey))
		report, err := both.Keys.RotateMasterKey(ctx, audit.Actor{}, keys.RotationOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if report.WebhookSecrets != 3 {
			t.Fatalf("re-sealed %d webhook secrets and tokens, want 3", report.WebhookSecrets)
		}

		newOnly := modeltest.WrapWith(t, gdb, mustKeyring(t, newMasterKey), outbox.Options{Mail: true})
		got, err := newOnly.Outbox.EndpointByID(ctx, fx.Program.ID, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		secrets, err := newOnly.Outbox.Secrets(got)
		if err != nil {
			t.Fatalf("secrets do not open with the new master key alone: %v", err)
		}
		if !slices.Contains(secrets, first) || !slices.Contains(secrets, second) {
			t.Fatalf("secrets changed by the re-seal")
		}
		claims, err := newOnly.Outbox.ClaimMail(ctx, 10, time.Minute)
		if err != nil || len(claims) != 1 || claims[0].Token != token {
			t.Fatalf("invitation token after rotation: %v (%d claims)", err, len(claims))
		}
		if again, err := both.Keys.RotateMasterKey(ctx, audit.Actor{}, keys.RotationOptions{}); err != nil || again.WebhookSecrets != 0 {
			t.Fatalf("second run re-sealed %d: %v", again.WebhookSecrets, err)
		}
		if _, brk, err := newOnly.Audit.VerifyChain(ctx, fx.Program.ID); err != nil || brk != nil {
			t.Fatalf("chain: %v %+v", err, brk)
		}
	})
}
