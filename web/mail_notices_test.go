package web_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"keydesk/models/modeltest"
	"keydesk/web"
)

// mailSink is a real SMTP server that keeps the raw messages it accepts.
type mailSink struct {
	mu   sync.Mutex
	to   []string
	data []string
}

func (s *mailSink) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &mailSinkSession{sink: s}, nil
}

type mailSinkSession struct {
	sink *mailSink
	to   string
}

func (ss *mailSinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *mailSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = to
	return nil
}
func (ss *mailSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	ss.sink.mu.Lock()
	ss.sink.to, ss.sink.data = append(ss.sink.to, ss.to), append(ss.sink.data, string(b))
	ss.sink.mu.Unlock()
	return err
}
func (ss *mailSinkSession) Reset()        {}
func (ss *mailSinkSession) Logout() error { return nil }

func startMailSink(t *testing.T) (*mailSink, string) {
	sink := &mailSink{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(sink)
	srv.Domain = "sink.test"
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, l.Addr().String()
}

// TestConsoleSaysWhetherEmailNoticesAreOn: without KEYDESK_SMTP_URL the
// Webhooks and Admins pages say email notices are off; with it they say
// on, and Send invite mails the link the page shows through a real SMTP
// server, from the running server's outbox worker.
func TestConsoleSaysWhetherEmailNoticesAreOn(t *testing.T) {
	db := modeltest.SQLite(t)
	off := newTestServer(t, db)
	c := off.loggedIn(t, off.Demo.Full.Email)
	for _, p := range []string{"/general/webhooks", "/general/admins"} {
		if _, body := c.get(p); !strings.Contains(body, "Email notices are off") {
			t.Fatalf("%s without SMTP does not say notices are off", p)
		}
	}

	sink, addr := startMailSink(t)
	on := newTestServer(t, modeltest.SQLite(t), func(cfg *web.Config) {
		cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://"+addr, "keydesk@example.test", "https://keydesk.example.test"
	})
	c = on.loggedIn(t, on.Demo.Full.Email)
	for _, p := range []string{"/general/webhooks", "/general/admins"} {
		if _, body := c.get(p); !strings.Contains(body, "Email notices are on") {
			t.Fatalf("%s with SMTP does not say notices are on", p)
		}
	}
	link := invite(t, c, "invited@example.test", "limited")
	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		n := len(sink.data)
		sink.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.data) != 1 || sink.to[0] != "invited@example.test" {
		t.Fatalf("mails to %v", sink.to)
	}
	// Quoted-printable soft line breaks aside, the link is there as shown.
	if !strings.Contains(strings.ReplaceAll(sink.data[0], "=\r\n", ""), "https://keydesk.example.test"+link) {
		t.Fatalf("the mail lacks the link %s", link)
	}
}
