package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestWebhooksSurviveKillDashNine: keys are generated through the real
// server while the receiver is down, so their events are committed but not
// delivered; the server is killed with SIGKILL (a few events may not even
// be dispatched yet), the receiver comes back, a new server starts, and the
// receiver gets every event exactly once per webhook-id, correctly signed.
func TestWebhooksSurviveKillDashNine(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		env := binEnv(db, "KEYDESK_WEBHOOK_ALLOW_PRIVATE=true")
		out, err := runBinary(t, env, "", "programs", "create", "--name", "Hook Store")
		if err != nil {
			t.Fatalf("programs create: %v\n%s", err, out)
		}
		partnerID := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		const email, password = "hooks@example.test", "a long enough password 1"
		if out, err := runBinary(t, env, password+"\n", "users", "create", "--program", partnerID, "--email", email, "--access", "full", "--password-stdin"); err != nil {
			t.Fatalf("users create: %v\n%s", err, out)
		}

		var up atomic.Bool
		var mu sync.Mutex
		var secret string
		accepted := map[string]int{}
		badSignatures := 0
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if !up.Load() {
				http.Error(w, "outage", http.StatusServiceUnavailable)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil || wh.Verify(body, r.Header) != nil {
				badSignatures++
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
			accepted[r.Header.Get("webhook-id")]++
			w.WriteHeader(http.StatusNoContent)
		}))
		defer rcv.Close()

		// Private targets allowed: the receiver listens on 127.0.0.1.
		store := modeltest.WrapWith(t, modeltest.Open(t, db), modeltest.Keyring(t), outbox.Options{AllowPrivateTargets: true})
		program, err := store.Accounts.ProgramByPartnerID(t.Context(), partnerID)
		if err != nil {
			t.Fatal(err)
		}
		_, sec, err := store.Outbox.CreateEndpoint(t.Context(), program.ID, audit.Actor{}, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatal(err)
		}
		secret = sec

		addr := freeAddr(t)
		server := startServe(t, env, addr)
		admin := signIn(t, "http://"+addr, email, password)
		const n = 8
		for i := range n {
			if code := admin.action("/general/api-keys", url.Values{"name": {fmt.Sprintf("hook %d", i)}}); code != http.StatusOK {
				t.Fatalf("generate: %d", code)
			}
		}
		// Wait until the server has tried (and failed) at least one delivery:
		// committed, attempted, not delivered.
		deadline := time.Now().Add(20 * time.Second)
		for {
			var attempted int64
			store.DB.Table("webhook_deliveries").Where("attempts > 0").Count(&attempted)
			if attempted > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server never attempted a delivery")
			}
			time.Sleep(50 * time.Millisecond)
		}
		// One more right before the kill: likely not even dispatched yet.
		if code := admin.action("/general/api-keys", url.Values{"name": {"hook last"}}); code != http.StatusOK {
			t.Fatalf("generate: %d", code)
		}
		if err := server.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		_, _ = server.Process.Wait()
		var delivered int64
		store.DB.Table("webhook_deliveries").Where("status = ?", outbox.StatusDelivered).Count(&delivered)
		if delivered != 0 {
			t.Fatalf("%d deliveries before the receiver came back", delivered)
		}

		up.Store(true)
		startServe(t, env, freeAddr(t))
		var messageIDs []string
		store.DB.Table("outbox_events").Where("program_id = ? AND event_type = ?", program.ID, outbox.EventKeyCreated).Pluck("message_id", &messageIDs)
		if len(messageIDs) != n+1 {
			t.Fatalf("%d events in the outbox, want %d", len(messageIDs), n+1)
		}
		deadline = time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			got := len(accepted)
			mu.Unlock()
			if got == n+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d events delivered after the restart", got, n+1)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond) // a duplicate would arrive now
		mu.Lock()
		defer mu.Unlock()
		for _, id := range messageIDs {
			if accepted[id] != 1 {
				t.Fatalf("message %s received %d times", id, accepted[id])
			}
		}
		if len(accepted) != n+1 || badSignatures != 0 {
			t.Fatalf("accepted %d, bad signatures %d", len(accepted), badSignatures)
		}
	})
}
