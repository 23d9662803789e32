package notify_test

import (
	"context"
	"strings"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/keys"
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
