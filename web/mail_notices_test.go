package web_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/emersion/go-smtp"

	"keydesk/config"
	"keydesk/models/modeltest"
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
	on := newTestServer(t, modeltest.SQLite(t), func(cfg *config.Options) {
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

// TestMailOffSaysWhyAtStartAndInTheConsole: KEYDESK_SMTP_URL set without
// KEYDESK_BASE_URL (or KEYDESK_MAIL_FROM without KEYDESK_SMTP_URL) leaves
// email notices off, and keydesk says so: a warning when the server is
// built that names the missing variable, and a warning panel on General »
// Webhooks and General » Settings. With mail on, or with no mail setting
// at all, neither page shows the panel.
func TestMailOffSaysWhyAtStartAndInTheConsole(t *testing.T) {
	_, addr := startMailSink(t)
	for _, tc := range []struct {
		name    string
		set     func(*config.Options)
		missing string // the variable the warning names; "" for no warning
	}{
		{"smtp without base URL", func(cfg *config.Options) {
			cfg.Events.SMTPURL, cfg.Events.MailFrom = "smtp://"+addr, "keydesk@example.test"
		}, "KEYDESK_BASE_URL"},
		{"sender without smtp", func(cfg *config.Options) {
			cfg.Events.MailFrom, cfg.BaseURL = "keydesk@example.test", "https://keydesk.example.test"
		}, "KEYDESK_SMTP_URL"},
		{"mail on", func(cfg *config.Options) {
			cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://"+addr, "keydesk@example.test", "https://keydesk.example.test"
		}, ""},
		{"no mail settings", func(*config.Options) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, modeltest.SQLite(t), tc.set)
			var warning string
			for _, line := range strings.Split(ts.Logs.String(), "\n") {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "email notices are OFF") {
					warning = line
				}
			}
			if tc.missing == "" {
				if warning != "" {
					t.Fatalf("a warning with nothing wrong: %s", warning)
				}
			} else if !strings.Contains(warning, tc.missing+" is not") || !strings.Contains(warning, "no key-event or invitation mail will be sent") {
				t.Fatalf("the start-up log does not say notices are off for want of %s:\n%s", tc.missing, ts.Logs.String())
			}
			c := ts.loggedIn(t, ts.Demo.Full.Email)
			for _, p := range []string{"/general/webhooks", "/general/settings", "/general/admins"} {
				res, body := c.get(p)
				doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("%s: %d %v", p, res.StatusCode, err)
				}
				panel := doc.Find("[data-mail-warning]")
				text := strings.Join(strings.Fields(panel.Text()), " ")
				if tc.missing == "" {
					if panel.Length() != 0 {
						t.Fatalf("%s warns %q with nothing wrong", p, text)
					}
					continue
				}
				if panel.Length() != 1 || !strings.HasPrefix(text, "Email notices are off.") || !strings.Contains(text, tc.missing+" is not") {
					t.Fatalf("%s: warning panel %q, want one naming %s", p, text, tc.missing)
				}
			}
		})
	}
}
