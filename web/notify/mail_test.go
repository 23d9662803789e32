package notify_test

import (
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/web/notify"
)

// smtpSink is a real SMTP server started by the test; it keeps every
// message it accepts.
type smtpSink struct {
	addr string
	mu   sync.Mutex
	msgs []sunkMail
}

type sunkMail struct {
	from string
	to   []string
	data []byte
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }

type sinkSession struct {
	sink *smtpSink
	cur  sunkMail
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error { ss.cur.from = from; return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.to = append(ss.cur.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.data = b
	ss.sink.mu.Lock()
	ss.sink.msgs = append(ss.sink.msgs, ss.cur)
	ss.sink.mu.Unlock()
	ss.cur = sunkMail{}
	return nil
}
func (ss *sinkSession) Reset()        { ss.cur = sunkMail{} }
func (ss *sinkSession) Logout() error { return nil }

func newSMTPSink(t *testing.T) *smtpSink {
	sink := &smtpSink{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(sink)
	srv.Domain = "sink.test"
	srv.ReadTimeout, srv.WriteTimeout = 5*time.Second, 5*time.Second
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	sink.addr = l.Addr().String()
	return sink
}

func (s *smtpSink) snapshot() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.msgs...)
}

// parts parses a message into its subject and its plain-text and HTML parts.
func parts(t *testing.T, data []byte) (subject, text, html string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("content type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
	return subject, text, html
}

// mailWorker sends through sink the mail of a store built with mail on.
func mailWorker(t *testing.T, store *modeltest.Stores, sink *smtpSink) *notify.Worker {
	m, err := notify.NewMailer("smtp://"+sink.addr, "keydesk@example.test", "https://keydesk.example.test/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := notify.NewWorker(store.Outbox, notify.WorkerConfig{RetryBase: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond,
		Timeout: 5 * time.Second}, m, store.Now, slog.New(slog.DiscardHandler))
	return w
}

func runUntil(ctx context.Context, w *notify.Worker, sink *smtpSink, n int) {
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.snapshot()) < n && time.Now().Before(deadline) {
		w.RunOnce(ctx)
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	w.RunOnce(ctx)
}

// TestKeyCreatedMailsTheProgramsFullAdminsOnly: a key created in one
// program mails each of that program's full-access admins once, through a
// real SMTP server, with a plain-text and an HTML part and links from the
// base URL; limited admins and other programs' admins get nothing, and no
// mail holds the key's secret. A reveal mails the other full admins, not
// the one who revealed.
func TestKeyCreatedMailsTheProgramsFullAdminsOnly(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStoresWith(t, db, outbox.Options{Mail: true})
		alpha := modeltest.Seed(t, store, "Alpha")
		modeltest.Seed(t, store, "Beta")
		second, err := store.Accounts.CreateAdmin(ctx, audit.Actor{}, alpha.Program.ID, "second@alpha.test", modeltest.Password, accounts.AccessFull, nil)
		if err != nil {
			t.Fatal(err)
		}
		sink := newSMTPSink(t)
		w := mailWorker(t, store, sink)
		actor := audit.Actor{AdminID: alpha.Full.ID, Email: alpha.Full.Email}
		k, err := store.Keys.Generate(ctx, alpha.Program.ID, actor, keys.KeyInput{Name: "Shop sync"})
		if err != nil {
			t.Fatal(err)
		}
		runUntil(ctx, w, sink, 2)
		got := sink.snapshot()
		if len(got) != 2 {
			t.Fatalf("%d mails, want 2", len(got))
		}
		to := map[string]int{}
		for _, m := range got {
			if m.from != "keydesk@example.test" || len(m.to) != 1 {
				t.Fatalf("envelope %s → %v", m.from, m.to)
			}
			to[m.to[0]]++
			if strings.Contains(string(m.data), k.Secret) {
				t.Fatal("a mail holds the key's secret")
			}
			subject, text, html := parts(t, m.data)
			if subject != "[Alpha] API key created: Shop sync" || !strings.Contains(text, k.Identifier) || !strings.Contains(html, k.Identifier) {
				t.Fatalf("subject %q text %q html %q", subject, text, html)
			}
			link := "https://keydesk.example.test/general/api-keys"
			if !strings.Contains(text, link) || !strings.Contains(html, `href="`+link+`"`) {
				t.Fatalf("no link from the base URL: %q / %q", text, html)
			}
		}
		if to[alpha.Full.Email] != 1 || to[second.Email] != 1 {
			t.Fatalf("recipients %v, want %s and %s once each", to, alpha.Full.Email, second.Email)
		}
		// Revealed by the first full admin: only the second is told.
		if _, _, err := store.Keys.Reveal(ctx, alpha.Program.ID, actor, k.ID, false); err != nil {
			t.Fatal(err)
		}
		runUntil(ctx, w, sink, 3)
		got = sink.snapshot()
		if len(got) != 3 || got[2].to[0] != second.Email {
			t.Fatalf("after the reveal: %d mails, last to %v", len(got), got[len(got)-1].to)
		}
		if strings.Contains(string(got[2].data), k.Secret) {
			t.Fatal("the reveal mail holds the secret")
		}
	})
}

// TestMailShowsNamesAsWritten: a key name that looks like an RFC 2047
// encoded-word reaches the Subject encoded, so a decoder (Go's, as a mail
// client's) shows the literal name and no Bcc appears; the text part
// quotes names as written, without Go escapes, and names the program by
// its name; every mail says it is auto-generated (RFC 3834) and has a
// Message-ID of its own on the base URL's host.
func TestMailShowsNamesAsWritten(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStoresWith(t, db, outbox.Options{Mail: true})
		fx := modeltest.Seed(t, store, "Demo Store")
		sink := newSMTPSink(t)
		w := mailWorker(t, store, sink)
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		names := []string{"=?utf-8?q?Bcc=3A_evil=40evil.test?=", `Shop "main" sync`, "Clé für Zürich"}
		created := map[string]*keys.APIKey{}
		for _, name := range names {
			k, err := store.Keys.Generate(ctx, fx.Program.ID, actor, keys.KeyInput{Name: name})
			if err != nil {
				t.Fatal(err)
			}
			created[name] = k
		}
		runUntil(ctx, w, sink, len(names))
		got := sink.snapshot()
		if len(got) != len(names) {
			t.Fatalf("%d mails, want %d", len(got), len(names))
		}
		seenIDs := map[string]bool{}
		for _, m := range got {
			msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{"Bcc", "Cc"} {
				if v, ok := msg.Header[h]; ok {
					t.Fatalf("a %s header %q in:\n%s", h, v, m.data)
				}
			}
			if v := msg.Header.Get("Auto-Submitted"); v != "auto-generated" {
				t.Fatalf("Auto-Submitted %q", v)
			}
			id := msg.Header.Get("Message-ID")
			if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@keydesk.example.test>") || len(id) < len("<@keydesk.example.test>")+20 || seenIDs[id] {
				t.Fatalf("Message-ID %q (seen before: %v)", id, seenIDs[id])
			}
			seenIDs[id] = true
			subject, text, _ := parts(t, m.data)
			name, ok := strings.CutPrefix(subject, "[Demo Store] API key created: ")
			k := created[name]
			if !ok || k == nil {
				t.Fatalf("subject %q names no created key as written; raw:\n%s", subject, m.data)
			}
			line := "The API key “" + name + "” (" + k.Identifier + ") was created by " + fx.Full.Email + " in Demo Store."
			if !strings.Contains(text, line) {
				t.Fatalf("text part %q lacks %q", text, line)
			}
			if !strings.Contains(text, "full-access admin of Demo Store (partner ID "+fx.Program.PartnerID+")") {
				t.Fatalf("the footer does not name the program: %q", text)
			}
			delete(created, name)
		}
	})
}

// TestInvitationMailCarriesItsLink: with mail on, Send invite mails the
// invited address the one-time link built from the base URL; the sealed
// token is destroyed once sent, and the admin.invited webhook payload
// never holds it.
func TestInvitationMailCarriesItsLink(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ctx := context.Background()
		store := modeltest.NewStoresWith(t, db, outbox.Options{Mail: true})
		fx := modeltest.Seed(t, store, "Alpha")
		sink := newSMTPSink(t)
		w := mailWorker(t, store, sink)
		_, token, err := store.Accounts.Invite(ctx, audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}, fx.Program.ID, "new@alpha.test", accounts.AccessLimited, nil)
		if err != nil {
			t.Fatal(err)
		}
		runUntil(ctx, w, sink, 1)
		got := sink.snapshot()
		if len(got) != 1 || got[0].to[0] != "new@alpha.test" {
			t.Fatalf("mails %+v", got)
		}
		_, text, html := parts(t, got[0].data)
		link := "https://keydesk.example.test/invite/" + token
		if !strings.Contains(text, link) || !strings.Contains(html, link) {
			t.Fatalf("no invitation link in %q", text)
		}
		var left int64
		store.DB.Raw(`SELECT COUNT(*) FROM mail_deliveries WHERE token_sealed IS NOT NULL`).Scan(&left)
		if left != 0 {
			t.Fatalf("%d sealed tokens kept after sending", left)
		}
		var payloads []string
		store.DB.Raw(`SELECT payload FROM outbox_events`).Scan(&payloads)
		for _, p := range payloads {
			if strings.Contains(p, token) {
				t.Fatal("an outbox payload holds the invitation token")
			}
		}
	})
}

// TestQuotaAlertMail: an api_key.quota_threshold alert mails the full-access
// admins a notice naming the key, the percent and the period's start.
func TestQuotaAlertMail(t *testing.T) {
	ctx := context.Background()
	store := modeltest.NewStoresWith(t, modeltest.SQLite(t), outbox.Options{Mail: true})
	fx := modeltest.Seed(t, store, "Demo Store")
	sink := newSMTPSink(t)
	w := mailWorker(t, store, sink)
	k, err := store.Keys.Generate(ctx, fx.Program.ID, audit.Actor{}, keys.KeyInput{Name: "Shop"})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(ctx, w, sink, 1) // the key's own api_key.created mail
	start := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	if emitted, err := store.Keys.EmitQuotaAlert(ctx, k.ID, "day:2026-12-07", start, 100); err != nil || !emitted {
		t.Fatalf("emit: %v %v", emitted, err)
	}
	runUntil(ctx, w, sink, 2)
	got := sink.snapshot()
	if len(got) != 2 {
		t.Fatalf("%d mails, want 2", len(got))
	}
	subject, text, _ := parts(t, got[1].data)
	if subject != "[Demo Store] API key at 100 % of its quota: Shop" {
		t.Fatalf("subject %q", subject)
	}
	for _, want := range []string{"“Shop” (" + k.Identifier + ")", "100 % of its quota for the period that began 2026-12-07T00:00:00Z", "429 QUOTA_EXCEEDED"} {
		if !strings.Contains(text, want) {
			t.Fatalf("text %q lacks %q", text, want)
		}
	}
}
