package web_test

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
	"keydesk/views"
)

// refusingMailSink is a real SMTP server that refuses every sender while
// refusing is set, and otherwise keeps the mails it accepts.
type refusingMailSink struct {
	refusing atomic.Bool
	mu       sync.Mutex
	accepted int
}

func (s *refusingMailSink) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &refusingMailSession{sink: s}, nil
}

type refusingMailSession struct{ sink *refusingMailSink }

func (ss *refusingMailSession) Mail(string, *smtp.MailOptions) error {
	if ss.sink.refusing.Load() {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "relay refused for this sender"}
	}
	return nil
}
func (ss *refusingMailSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *refusingMailSession) Data(r io.Reader) error {
	_, err := io.ReadAll(r)
	ss.sink.mu.Lock()
	ss.sink.accepted++
	ss.sink.mu.Unlock()
	return err
}
func (ss *refusingMailSession) Reset()        {}
func (ss *refusingMailSession) Logout() error { return nil }

func (s *refusingMailSink) acceptedMails() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

func startRefusingMailSink(t *testing.T) (*refusingMailSink, string) {
	sink := &refusingMailSink{}
	sink.refusing.Store(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(sink)
	srv.Domain = "refusing.test"
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, l.Addr().String()
}

// withRefusingMail turns email notices on through sink's address; a failed
// mail is not retried within the test.
func withRefusingMail(addr string) serverOption {
	return func(cfg *config.Options) {
		cfg.Events.SMTPURL, cfg.Events.MailFrom, cfg.BaseURL = "smtp://"+addr, "keydesk@example.test", "https://keydesk.example.test"
		cfg.Events.Webhooks.PollInterval = 50 * time.Millisecond
		cfg.Events.Webhooks.RetryBase = time.Hour
	}
}

// waitForMailStatus reads the program's last mail status until it is failed
// (or not failed).
func waitForMailStatus(t *testing.T, ts *testServer, failed bool) outbox.MailStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := ts.Store.Outbox.LastMailStatus(t.Context(), ts.Demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed == failed {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("the last mail never became failed=%v: %+v", failed, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLastMailFailureShowsOnWebhooksAndSettings: once a mail fails, General
// » Webhooks and General » Settings say "Last mail failed: <reason>
// (<time>)" instead of "Email notices are on"; after a later mail goes
// out, both say notices are on again. The state is read from the
// database, as every instance would.
func TestLastMailFailureShowsOnWebhooksAndSettings(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		sink, addr := startRefusingMailSink(t)
		ts := newTestServer(t, db, withRefusingMail(addr))
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		notices := func() map[string]string {
			t.Helper()
			got := map[string]string{}
			for _, p := range []string{"/general/webhooks", "/general/settings"} {
				res, page := c.get(p)
				if res.StatusCode != 200 {
					t.Fatalf("%s: %d", p, res.StatusCode)
				}
				notice := parseHTML(t, page).Find("[data-mail-notices]")
				if notice.Length() != 1 {
					t.Fatalf("%s has %d mail notices", p, notice.Length())
				}
				got[p] = strings.Join(strings.Fields(notice.Text()), " ")
			}
			return got
		}
		for p, n := range notices() {
			if !strings.HasPrefix(n, "Email notices are on") {
				t.Fatalf("%s before any mail: %q", p, n)
			}
		}
		invite(t, c, "first@example.test", "limited")
		st := waitForMailStatus(t, ts, true)
		want := "Last mail failed: " + st.Reason + " (" + views.TimeText(st.At) + ")."
		if !strings.Contains(st.Reason, "554") || !strings.Contains(st.Reason, "relay refused for this sender") || strings.Contains(st.Reason, "message ID") {
			t.Fatalf("the failure kept is %q", st.Reason)
		}
		for p, n := range notices() {
			if !strings.HasPrefix(n, want) || strings.Contains(n, "Email notices are on") {
				t.Fatalf("%s after a failed mail: %q, want it to start %q", p, n, want)
			}
		}
		sink.refusing.Store(false)
		invite(t, c, "second@example.test", "limited")
		waitForMailStatus(t, ts, false)
		if sink.acceptedMails() == 0 {
			t.Fatal("no mail went out")
		}
		for p, n := range notices() {
			if !strings.HasPrefix(n, "Email notices are on") {
				t.Fatalf("%s after a later mail went out: %q", p, n)
			}
		}
	})
}
