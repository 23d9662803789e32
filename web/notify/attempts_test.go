package notify_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/web/notify"
)

// TestAttemptKeepsTheRequestAsSignedAndTheAnswer: each attempt keeps the
// request exactly as signed and sent (its kept headers and body verify
// with the endpoint's secret, and are what the receiver got) and the
// answer's status, headers and first 4 KiB, marked truncated when longer;
// no kept text holds the signing secret.
func TestAttemptKeepsTheRequestAsSignedAndTheAnswer(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStoresWith(t, db, outbox.Options{AllowPrivateTargets: true})
		fx := modeltest.Seed(t, store, "Alpha")
		var calls atomic.Int32
		var received atomic.Value
		long := strings.Repeat("0123456789abcdef", 640) // 10 KiB
		rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if calls.Add(1) == 1 {
				received.Store(string(body))
				w.Header().Set("X-Receiver", "first")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(long))
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		}))
		t.Cleanup(rcv.Close)
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		ep, secret, err := store.Outbox.CreateEndpoint(ctx, fx.Program.ID, actor, outbox.EndpointInput{URL: rcv.URL + "/hook", Events: []string{outbox.EventKeyCreated}})
		if err != nil {
			t.Fatal(err)
		}
		d, err := store.Outbox.SendTest(ctx, fx.Program.ID, actor, ep.ID)
		if err != nil {
			t.Fatal(err)
		}
		w := testWorker(store, true)
		deadline := time.Now().Add(15 * time.Second)
		for calls.Load() < 2 && time.Now().Before(deadline) {
			w.RunOnce(ctx)
			time.Sleep(10 * time.Millisecond)
		}
		_, attempts, err := store.Outbox.DeliveryAttempts(ctx, fx.Program.ID, ep.ID, d.ID)
		if err != nil || len(attempts) != 2 {
			t.Fatalf("%d attempts (%v), want 2", len(attempts), err)
		}
		first, second := attempts[1], attempts[0]
		if first.RequestBody != received.Load() || first.RequestBody != d.Payload {
			t.Fatalf("kept request body %q, the receiver got %q", first.RequestBody, received.Load())
		}
		headers := http.Header{}
		for _, line := range strings.Split(strings.TrimSpace(first.RequestHeaders), "\n") {
			name, value, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("request header line %q", line)
			}
			headers.Add(name, value)
		}
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify([]byte(first.RequestBody), headers); err != nil {
			t.Fatalf("the kept request does not verify as signed: %v\n%s", err, first.RequestHeaders)
		}
		if first.ResponseCode != http.StatusBadRequest || first.ResponseBody != long[:outbox.MaxKeptResponseBody] || !first.ResponseBodyTruncated ||
			!strings.Contains(first.ResponseHeaders, "X-Receiver: first\n") || first.Error == "" {
			t.Fatalf("first answer as kept: %d %q… truncated %v, headers %q, error %q", first.ResponseCode, first.ResponseBody[:min(40, len(first.ResponseBody))],
				first.ResponseBodyTruncated, first.ResponseHeaders, first.Error)
		}
		if second.ResponseCode != http.StatusOK || second.ResponseBody != `{"ok":true}` || second.ResponseBodyTruncated || second.RequestBody != d.Payload {
			t.Fatalf("second attempt as kept: %+v", second)
		}
		bare := strings.TrimPrefix(secret, "whsec_")
		for _, a := range attempts {
			for _, text := range []string{a.RequestHeaders, a.RequestBody, a.ResponseHeaders, a.ResponseBody, a.Error} {
				if strings.Contains(text, bare) {
					t.Fatalf("an attempt keeps the signing secret: %q", text)
				}
			}
		}
	})
}

// refusingSMTP is an SMTP server that offers AUTH CRAM-MD5 and refuses
// the login, echoing the user name it was given (as some servers do).
func refusingSMTP(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				tp := textproto.NewConn(conn)
				_ = tp.PrintfLine("220 refusing.test ESMTP")
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(line, " ")
					switch strings.ToUpper(verb) {
					case "EHLO", "HELO":
						_ = tp.PrintfLine("250-refusing.test")
						_ = tp.PrintfLine("250 AUTH CRAM-MD5")
					case "AUTH":
						_ = tp.PrintfLine("334 %s", base64.StdEncoding.EncodeToString([]byte("<1.2@refusing.test>")))
						answer, err := tp.ReadLine()
						if err != nil {
							return
						}
						raw, _ := base64.StdEncoding.DecodeString(answer)
						name, _, _ := strings.Cut(string(raw), " ")
						_ = tp.PrintfLine("535 5.7.8 credentials rejected for %s", name)
					case "QUIT":
						_ = tp.PrintfLine("221 bye")
						return
					default:
						_ = tp.PrintfLine("503 5.5.1 bad sequence")
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// TestMailFailureNeverCarriesTheSMTPCredentials: a server that echoes the
// user name of KEYDESK_SMTP_URL in its refusal fails the mail; the failure
// kept (and shown as "Last mail failed") names the refusal without it
// (TestRedactHidesBothCredentials covers the password).
func TestMailFailureNeverCarriesTheSMTPCredentials(t *testing.T) {
	ctx := context.Background()
	store := modeltest.NewStoresWith(t, modeltest.SQLite(t), outbox.Options{Mail: true})
	fx := modeltest.Seed(t, store, "Alpha")
	const user, pass = "mailer@keydesk.test", "s3cret/p@ss"
	m, err := notify.NewMailer("smtp://mailer%40keydesk.test:s3cret%2Fp%40ss@"+refusingSMTP(t), "keydesk@example.test", "https://keydesk.example.test/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := notify.NewWorker(store.Outbox, notify.WorkerConfig{RetryBase: time.Hour, PollInterval: 20 * time.Millisecond, Timeout: 5 * time.Second},
		m, store.Now, slog.New(slog.DiscardHandler))
	if err := store.DB.Transaction(func(tx *gorm.DB) error {
		return store.Outbox.EnqueueInvitationMail(tx, fx.Program.ID, "new@example.test", "invitation-token", map[string]any{"access": "full"})
	}); err != nil {
		t.Fatal(err)
	}
	w.RunOnce(ctx)
	st, err := store.Outbox.LastMailStatus(ctx, fx.Program.ID)
	if err != nil || !st.Failed {
		t.Fatalf("after a refused mail: %+v (%v)", st, err)
	}
	if !strings.Contains(st.Reason, "535 \"5.7.8 credentials rejected for [redacted]\"") {
		t.Fatalf("the failure says %q, want the refusal with the credentials redacted", st.Reason)
	}
	for _, secret := range []string{user, "mailer%40keydesk.test", pass, "s3cret%2Fp%40ss"} {
		if strings.Contains(st.Reason, secret) {
			t.Fatalf("the failure %q carries %q", st.Reason, secret)
		}
	}
}
