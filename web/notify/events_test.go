package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestRollInviteAndRemovalAreDelivered: api_key.rolled, admin.invited and
// admin.removed go through the outbox in their actions' transactions and
// reach a subscribed receiver, signed, with no secret (neither the rolled
// key nor the invitation token) in any payload.
func TestRollInviteAndRemovalAreDelivered(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		// Private targets allowed: the receiver listens on 127.0.0.1.
		store := modeltest.NewStoresWith(t, db, outbox.Options{AllowPrivateTargets: true})
		fx := modeltest.Seed(t, store, "Alpha")
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		rcv := newReceiver(t)
		_, secret, err := store.Outbox.CreateEndpoint(ctx, fx.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL,
			Events: []string{outbox.EventKeyRolled, outbox.EventAdminInvited, outbox.EventAdminRemoved}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.secret = secret
		k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Shop sync"})
		if err != nil {
			t.Fatal(err)
		}
		rolled, err := store.Keys.Roll(ctx, fx.Program.ID, actor, k.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		_, token, err := store.Accounts.Invite(ctx, actor, fx.Program.ID, "new@alpha.test", accounts.AccessLimited, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Accounts.RemoveAdmin(ctx, actor, fx.Program.ID, fx.Limited.ID); err != nil {
			t.Fatal(err)
		}
		// A refused removal (an admin not in the program) enqueues nothing.
		if err := store.Accounts.RemoveAdmin(ctx, actor, fx.Program.ID, 999999); err == nil {
			t.Fatal("removing an unknown admin succeeded")
		}
		w := testWorker(store, true)
		deadline := time.Now().Add(10 * time.Second)
		for {
			w.RunOnce(ctx)
			if got, _, _ := rcv.snapshot(); len(got) >= 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		w.RunOnce(ctx)
		got, bodies, bad := rcv.snapshot()
		if len(got) != 3 || bad != 0 {
			t.Fatalf("accepted %v, bad signatures %d", got, bad)
		}
		byType := map[string]outbox.Payload{}
		for _, b := range bodies {
			if strings.Contains(b, k.Secret) || strings.Contains(b, rolled.Secret) || strings.Contains(b, token) {
				t.Fatalf("payload holds a secret: %s", b)
			}
			var p outbox.Payload
			if err := json.Unmarshal([]byte(b), &p); err != nil {
				t.Fatal(err)
			}
			byType[p.Type] = p
		}
		if key, _ := byType[outbox.EventKeyRolled].Data["api_key"].(map[string]any); key["identifier"] != k.Identifier {
			t.Fatalf("rolled payload %+v", byType[outbox.EventKeyRolled])
		}
		if inv, _ := byType[outbox.EventAdminInvited].Data["invitation"].(map[string]any); inv["email"] != "new@alpha.test" {
			t.Fatalf("invited payload %+v", byType[outbox.EventAdminInvited])
		}
		if a, _ := byType[outbox.EventAdminRemoved].Data["admin"].(map[string]any); a["email"] != fx.Limited.Email {
			t.Fatalf("removed payload %+v", byType[outbox.EventAdminRemoved])
		}
		var n int64
		store.DB.Table("outbox_events").Where("event_type IN ?", []string{outbox.EventKeyRolled, outbox.EventAdminInvited, outbox.EventAdminRemoved}).Count(&n)
		if n != 3 {
			t.Fatalf("%d outbox rows, want 3", n)
		}
	})
}
