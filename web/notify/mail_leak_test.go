package notify_test

import (
	"context"
	"strings"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// A key reported leaked mails the program's full-access admins: which key,
// who reported it, where it was found and what keydesk did, without the
// secret.
func TestLeakedKeyMailsFullAdmins(t *testing.T) {
	ctx := context.Background()
	store := modeltest.NewStoresWith(t, modeltest.SQLite(t), outbox.Options{Mail: true})
	alpha := modeltest.Seed(t, store, "Alpha")
	sink := newSMTPSink(t)
	w := mailWorker(t, store, sink)
	k, err := store.Keys.Generate(ctx, alpha.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Shop sync"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(ctx, w, sink, 1) // the creation's mail
	found, err := store.Keys.ReportLeaked(ctx, keys.LeakAlert{Actor: audit.Actor{Email: keys.LeakReporterGitHub}, Digest: []byte("alert-1"),
		Reports: []keys.LeakReport{{Token: k.Secret, URL: "https://github.com/octo/repo/blob/main/.env", Source: "content"}}})
	if err != nil || !found[0] {
		t.Fatalf("report: %v %v", found, err)
	}
	runUntil(ctx, w, sink, 2)
	got := sink.snapshot()
	if len(got) != 2 || got[1].to[0] != alpha.Full.Email {
		t.Fatalf("%d mails", len(got))
	}
	if strings.Contains(string(got[1].data), k.Secret) {
		t.Fatal("the leak mail holds the secret")
	}
	subject, text, _ := parts(t, got[1].data)
	if subject != "[Alpha] API key found leaked: Shop sync" || !strings.Contains(text, "GitHub secret scanning") ||
		!strings.Contains(text, "https://github.com/octo/repo/blob/main/.env") || !strings.Contains(text, "keydesk inactivated it") {
		t.Fatalf("subject %q text %q", subject, text)
	}
}

// A management key reported leaked is revoked and mails the program's
// full-access admins: which key, who reported it, where it was found and
// that it was revoked, without the secret.
func TestLeakedManagementKeyMailsFullAdmins(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStoresWith(t, db, outbox.Options{Mail: true})
		alpha := modeltest.Seed(t, store, "Alpha")
		sink := newSMTPSink(t)
		w := mailWorker(t, store, sink)
		mk, err := store.ManagementKeys.Create(ctx, alpha.Program.ID, audit.Actor{}, managementkeys.Input{Name: "Deploy bot", Scopes: []string{string(managementkeys.ScopeKeysRead)}})
		if err != nil {
			t.Fatal(err)
		}
		found, err := store.ManagementKeys.RevokeLeaked(ctx, mk.Secret, keys.LeakSighting{Actor: audit.Actor{Email: keys.LeakReporterGitHub},
			AlertDigest: []byte("alert-1"), URL: "https://github.com/octo/repo/blob/main/deploy.sh", Source: "commit"})
		if err != nil || !found {
			t.Fatalf("report: %v %v", found, err)
		}
		runUntil(ctx, w, sink, 1)
		got := sink.snapshot()
		if len(got) != 1 || got[0].to[0] != alpha.Full.Email {
			t.Fatalf("%d mails", len(got))
		}
		if strings.Contains(string(got[0].data), mk.Secret) {
			t.Fatal("the leak mail holds the secret")
		}
		subject, text, _ := parts(t, got[0].data)
		if subject != "[Alpha] Management key found leaked: Deploy bot" || !strings.Contains(text, "The management key “Deploy bot” ("+mk.Identifier+")") ||
			!strings.Contains(text, "GitHub secret scanning") || !strings.Contains(text, "https://github.com/octo/repo/blob/main/deploy.sh") ||
			!strings.Contains(text, "keydesk revoked it") || !strings.Contains(text, "/general/management-keys") {
			t.Fatalf("subject %q text %q", subject, text)
		}
	})
}
