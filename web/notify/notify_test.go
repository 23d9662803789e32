package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/web/notify"
)

// TestSignMatchesThePublishedVector checks the signature against the test
// vector the Standard Webhooks libraries publish.
func TestSignMatchesThePublishedVector(t *testing.T) {
	got, err := notify.Sign([]string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
}

// receiver is a real HTTP receiver that verifies each request with the
// endpoint's secret and records the webhook-ids it accepted.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	secret   string
	failNext atomic.Int32 // answer 503 this many times
	hits     atomic.Int32
	accepted map[string]int
	bodies   []string
	badSigs  int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{accepted: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.hits.Add(1)
		if r.failNext.Load() > 0 {
			r.failNext.Add(-1)
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		wh, err := standardwebhooks.NewWebhook(r.secret)
		if err != nil || wh.Verify(body, req.Header) != nil {
			r.badSigs++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		r.accepted[req.Header.Get("webhook-id")]++
		r.bodies = append(r.bodies, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) snapshot() (map[string]int, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for k, v := range r.accepted {
		m[k] = v
	}
	return m, append([]string(nil), r.bodies...), r.badSigs
}

func testWorker(store *modeltest.Stores, allowPrivate bool) *notify.Worker {
	return notify.NewWorker(store.Outbox, notify.WorkerConfig{AllowPrivate: allowPrivate, RetryBase: 20 * time.Millisecond,
		PollInterval: 20 * time.Millisecond, Timeout: 2 * time.Second}, nil, store.Now, slog.New(slog.DiscardHandler))
}

// TestWebhookSignedAndRetriedAcrossAnOutage: a key generated while the
// receiver is down reaches it, signed, once it is back; the delivery log
// records the attempts; the payload carries no secret.
func TestWebhookSignedAndRetriedAcrossAnOutage(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		// Private targets allowed: the receiver listens on 127.0.0.1.
		store := modeltest.NewStoresWith(t, db, outbox.Options{AllowPrivateTargets: true})
		fx := modeltest.Seed(t, store, "Alpha")
		rcv := newReceiver(t)
		ep, secret, err := store.Outbox.CreateEndpoint(ctx, fx.Program.ID, audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email},
			outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{outbox.EventKeyCreated, outbox.EventKeyRevealed}})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("secret %q", secret)
		}
		rcv.secret = secret
		rcv.failNext.Store(3)
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Shop sync"})
		if err != nil {
			t.Fatal(err)
		}
		_, plaintext, err := store.Keys.Reveal(ctx, fx.Program.ID, actor, k.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		// Inactivation is not subscribed: it must not be delivered.
		if _, err := store.Keys.SetActive(ctx, fx.Program.ID, actor, k.ID, false); err != nil {
			t.Fatal(err)
		}
		w := testWorker(store, true)
		deadline := time.Now().Add(15 * time.Second)
		for {
			w.RunOnce(ctx)
			if got, _, _ := rcv.snapshot(); len(got) == 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		got, bodies, bad := rcv.snapshot()
		if len(got) != 2 || bad != 0 {
			t.Fatalf("accepted %v, bad signatures %d", got, bad)
		}
		types := map[string]bool{}
		for _, b := range bodies {
			if strings.Contains(b, plaintext) || strings.Contains(b, "whsec_") {
				t.Fatalf("payload holds a secret: %s", b)
			}
			var p outbox.Payload
			if err := json.Unmarshal([]byte(b), &p); err != nil {
				t.Fatal(err)
			}
			types[p.Type] = true
			key, _ := p.Data["api_key"].(map[string]any)
			actorData, _ := p.Data["actor"].(map[string]any)
			if key["identifier"] != k.Identifier || key["name"] != "Shop sync" || actorData["email"] != fx.Full.Email || p.Data["partner_id"] != fx.Program.PartnerID {
				t.Fatalf("payload %s", b)
			}
		}
		if !types[outbox.EventKeyCreated] || !types[outbox.EventKeyRevealed] {
			t.Fatalf("types %v", types)
		}
		log, err := store.Outbox.Deliveries(ctx, fx.Program.ID, ep.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		attempts := 0
		for _, d := range log {
			if d.Status != outbox.StatusDelivered || d.ResponseCode != http.StatusNoContent {
				t.Fatalf("delivery %+v", d)
			}
			attempts += d.Attempts
		}
		if attempts != 2+3 || rcv.hits.Load() != 5 {
			t.Fatalf("%d attempts recorded, %d requests received, want 5", attempts, rcv.hits.Load())
		}
	})
}

// TestActionRolledBackSendsNothing: an action that fails leaves no outbox row.
func TestActionRolledBackSendsNothing(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	fx := modeltest.Seed(t, store, "Alpha")
	ctx := context.Background()
	actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
	if _, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Dup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Dup"}); err == nil {
		t.Fatal("duplicate name accepted")
	}
	var n int64
	store.DB.Table("outbox_events").Where("event_type = ?", outbox.EventKeyCreated).Count(&n)
	if n != 1 {
		t.Fatalf("%d outbox rows for one committed generate", n)
	}
}

// TestTwoWorkersShareTheOutbox: two workers on separate connection pools
// over one database, running at the same time, deliver every message
// exactly once.
func TestTwoWorkersShareTheOutbox(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		// Private targets allowed: the receiver listens on 127.0.0.1.
		store := modeltest.NewStoresWith(t, db, outbox.Options{AllowPrivateTargets: true})
		other := modeltest.Wrap(t, modeltest.Open(t, db), modeltest.Keyring(t))
		fx := modeltest.Seed(t, store, "Alpha")
		rcv := newReceiver(t)
		_, secret, err := store.Outbox.CreateEndpoint(ctx, fx.Program.ID, audit.Actor{}, outbox.EndpointInput{URL: rcv.URL, Events: []string{outbox.EventKeyCreated, outbox.EventKeyCopied}})
		if err != nil {
			t.Fatal(err)
		}
		rcv.secret = secret
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: "Busy"})
		if err != nil {
			t.Fatal(err)
		}
		const copies = 60
		for range copies {
			if _, _, err := store.Keys.Reveal(ctx, fx.Program.ID, actor, k.ID, true); err != nil {
				t.Fatal(err)
			}
		}
		want := copies + 1
		workers := []*notify.Worker{testWorker(store, true), testWorker(other, true)}
		runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for runCtx.Err() == nil {
					if got, _, _ := rcv.snapshot(); len(got) >= want {
						return
					}
					w.RunOnce(runCtx)
				}
			}()
		}
		wg.Wait()
		time.Sleep(100 * time.Millisecond)
		got, _, bad := rcv.snapshot()
		if len(got) != want || bad != 0 {
			t.Fatalf("%d messages received, want %d (bad signatures %d)", len(got), want, bad)
		}
		for id, n := range got {
			if n != 1 {
				t.Fatalf("message %s delivered %d times", id, n)
			}
		}
		if int(rcv.hits.Load()) != want {
			t.Fatalf("%d requests for %d messages", rcv.hits.Load(), want)
		}
	})
}
