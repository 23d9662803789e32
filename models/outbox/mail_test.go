package outbox_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestMailFanOutAndClaims: with mail on, a mailable event becomes one mail
// per full-access admin of its program (a reveal not to the admin who
// revealed), other events none; two claimers take each mail once; an
// invitation's token is claimed with it and destroyed once the mail is
// sent or given up.
func TestMailFanOutAndClaims(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixtureWith(t, db, outbox.Options{Mail: true, AllowPrivateTargets: true})
		ctx := t.Context()
		var fulls []*accounts.Admin
		for _, local := range []string{"ana", "ben"} {
			a, err := f.s.Accounts.CreateAdmin(ctx, audit.Actor{}, f.p, local+"@example.test", modeltest.Password, accounts.AccessFull, nil)
			if err != nil {
				t.Fatal(err)
			}
			fulls = append(fulls, a)
		}
		ana := fulls[0]
		if _, err := f.s.Accounts.CreateAdmin(ctx, audit.Actor{}, f.p, "lim@example.test", modeltest.Password, accounts.AccessLimited, nil); err != nil {
			t.Fatal(err)
		}
		enqueue := func(eventType string, actor audit.Actor) {
			t.Helper()
			if err := f.s.DB.Transaction(func(tx *gorm.DB) error {
				return f.s.Outbox.Enqueue(tx, f.p, eventType, actor, map[string]any{"name": "Checkout"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		enqueue(outbox.EventKeyCreated, audit.Actor{})
		enqueue(outbox.EventKeyRevealed, audit.Actor{AdminID: ana.ID, Email: ana.Email})
		enqueue(outbox.EventKeyUpdated, audit.Actor{}) // not mailed
		if err := f.s.DB.Transaction(func(tx *gorm.DB) error {
			return f.s.Outbox.EnqueueInvitationMail(tx, f.p, "new@example.test", "invitation-token", map[string]any{"access": "full"})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Outbox.Dispatch(ctx, 100); err != nil {
			t.Fatal(err)
		}

		// Two claimers at once, each mail once.
		var mu sync.Mutex
		var claims []outbox.MailClaim
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for w := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					cs, err := f.s.Outbox.ClaimMail(ctx, 1, time.Hour)
					if err != nil || len(cs) == 0 {
						errs[w] = err
						return
					}
					mu.Lock()
					claims = append(claims, cs...)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		var got []string
		ids := map[int64]bool{}
		for _, c := range claims {
			if ids[c.ID] {
				t.Errorf("mail %d claimed twice", c.ID)
			}
			ids[c.ID] = true
			got = append(got, c.EventType+" "+c.Recipient)
			if c.ProgramName != "Outbox" || c.Attempts != 1 {
				t.Errorf("claim %+v: program name %q, attempts %d", c.MailDelivery, c.ProgramName, c.Attempts)
			}
			if (c.EventType == outbox.EventAdminInvited) != (c.Token == "invitation-token") {
				t.Errorf("%s to %s claimed with token %q", c.EventType, c.Recipient, c.Token)
			}
		}
		slices.Sort(got)
		want := []string{
			"admin.invited new@example.test",
			"api_key.created ana@example.test", "api_key.created ben@example.test",
			"api_key.revealed ben@example.test",
		}
		if !slices.Equal(got, want) {
			t.Errorf("mails claimed:\n%v\nwant\n%v", got, want)
		}

		// Sent: the token is destroyed and the mail is not claimed again.
		// Failing past MaxRetryAge: failed, token destroyed too.
		for i := range claims {
			c := &claims[i]
			var sendErr error
			if c.Recipient == "ben@example.test" {
				sendErr = errors.New("550 mailbox unavailable")
			}
			if err := f.s.Outbox.RecordMail(ctx, c, sendErr, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		var tokens int64
		f.s.DB.Raw(`SELECT COUNT(*) FROM mail_deliveries WHERE token_sealed IS NOT NULL`).Scan(&tokens)
		if tokens != 0 {
			t.Errorf("%d sealed tokens left after the invitation mail was sent", tokens)
		}
		for range 200 {
			f.advance(time.Hour)
			cs, err := f.s.Outbox.ClaimMail(ctx, 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for i := range cs {
				if cs[i].Recipient != "ben@example.test" {
					t.Fatalf("a sent mail was claimed again: %+v", cs[i].MailDelivery)
				}
				if err := f.s.Outbox.RecordMail(ctx, &cs[i], errors.New("550 mailbox unavailable"), time.Minute); err != nil {
					t.Fatal(err)
				}
			}
		}
		var statuses []string
		f.s.DB.Raw(`SELECT recipient || ' ' || status FROM mail_deliveries ORDER BY recipient, event_type`).Scan(&statuses)
		wantStatuses := []string{
			"ana@example.test delivered", "ben@example.test failed", "ben@example.test failed", "new@example.test delivered",
		}
		if !slices.Equal(statuses, wantStatuses) {
			t.Errorf("statuses %v, want %v", statuses, wantStatuses)
		}
	})
}

// TestMailOffWritesNoMail: with mail off, dispatch writes no mail and an
// invitation keeps no sealed token.
func TestMailOffWritesNoMail(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		if _, err := f.s.Accounts.CreateAdmin(t.Context(), audit.Actor{}, f.p, "ana@example.test", modeltest.Password, accounts.AccessFull, nil); err != nil {
			t.Fatal(err)
		}
		f.enqueue(t, outbox.EventKeyCreated, 1)
		if err := f.s.DB.Transaction(func(tx *gorm.DB) error {
			return f.s.Outbox.EnqueueInvitationMail(tx, f.p, "new@example.test", "invitation-token", nil)
		}); err != nil {
			t.Fatal(err)
		}
		var n int64
		f.s.DB.Raw(`SELECT COUNT(*) FROM mail_deliveries`).Scan(&n)
		if n != 0 {
			t.Errorf("%d mails written with mail off", n)
		}
	})
}
