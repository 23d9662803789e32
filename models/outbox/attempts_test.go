package outbox_test

import (
	"errors"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/modeltest"
	"keydesk/models/outbox"
)

// TestAttemptsKeepRequestAndAnswer: each recorded attempt keeps the request
// as sent and the answer (status, headers, body, the truncated mark),
// listed newest first; a receiver's NUL and broken UTF-8 are stored as
// text; only the latest MaxKeptAttempts are kept; a stale result records no
// attempt; another endpoint's or program's delivery is not found; deleting
// the endpoint forgets its attempts.
func TestAttemptsKeepRequestAndAnswer(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixture(t, db)
		ep := f.endpoint(t, "https://hooks.example.com/k", outbox.EventKeyCreated)
		other := f.endpoint(t, "https://hooks.example.com/other", outbox.EventKeyDeleted)
		f.enqueue(t, outbox.EventKeyCreated, 1)
		claim := func() outbox.Claim {
			t.Helper()
			cs, err := f.s.Outbox.ClaimDue(t.Context(), 10, time.Minute)
			if err != nil || len(cs) != 1 || cs[0].EndpointID != ep.ID {
				t.Fatalf("claims %+v (%v), want the endpoint's delivery", cs, err)
			}
			return cs[0]
		}
		c := claim()
		first := outbox.Result{ResponseCode: 502, Error: "receiver answered 502 Bad Gateway", Duration: 30 * time.Millisecond,
			RequestHeaders: "Content-Type: application/json\nWebhook-Id: " + c.MessageID + "\n", RequestBody: c.Payload,
			ResponseHeaders: "Content-Type: text/html\n", ResponseBody: "<h1>bad\x00gateway\xff</h1>", ResponseBodyTruncated: true}
		if err := f.s.Outbox.Record(t.Context(), &c, first, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		d, as, err := f.s.Outbox.DeliveryAttempts(t.Context(), f.p, ep.ID, c.ID)
		if err != nil || d.ID != c.ID || len(as) != 1 {
			t.Fatalf("attempts %+v (%v), want 1", as, err)
		}
		a := as[0]
		if a.Attempt != 1 || a.RequestBody != c.Payload || a.RequestHeaders != first.RequestHeaders || a.ResponseCode != 502 ||
			a.ResponseHeaders != first.ResponseHeaders || a.ResponseBody != "<h1>bad\uFFFDgateway\uFFFD</h1>" || !a.ResponseBodyTruncated ||
			a.Error != first.Error || a.DurationMS != 30 || !a.AttemptedAt.Equal(f.now) {
			t.Fatalf("attempt as kept: %+v", a)
		}
		// Later attempts: the newest first, and only the latest MaxKeptAttempts.
		total := outbox.MaxKeptAttempts + 3
		for n := 2; n <= total; n++ {
			f.advance(time.Hour) // past any backoff of a millisecond's base, within MaxRetryAge
			c = claim()
			r := outbox.Result{ResponseCode: 500, Error: "receiver answered 500", RequestBody: c.Payload}
			if n == total {
				r = outbox.Result{OK: true, ResponseCode: 200, RequestBody: c.Payload, ResponseBody: "ok"}
			}
			if err := f.s.Outbox.Record(t.Context(), &c, r, time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		_, as, err = f.s.Outbox.DeliveryAttempts(t.Context(), f.p, ep.ID, c.ID)
		if err != nil || len(as) != outbox.MaxKeptAttempts {
			t.Fatalf("%d attempts kept (%v), want %d", len(as), err, outbox.MaxKeptAttempts)
		}
		if as[0].Attempt != total || as[0].ResponseBody != "ok" || as[len(as)-1].Attempt != total-outbox.MaxKeptAttempts+1 {
			t.Fatalf("kept attempts %d..%d, newest body %q", as[0].Attempt, as[len(as)-1].Attempt, as[0].ResponseBody)
		}
		// A stale result (its claim was superseded) records no attempt.
		stale := c
		stale.Attempts = 1
		stale.Status = outbox.StatusPending
		if err := f.s.Outbox.Record(t.Context(), &stale, outbox.Result{ResponseCode: 418}, time.Second); err != nil {
			t.Fatal(err)
		}
		if _, again, _ := f.s.Outbox.DeliveryAttempts(t.Context(), f.p, ep.ID, c.ID); len(again) != len(as) || again[0].ResponseCode != 200 {
			t.Fatalf("a stale result was kept: %d attempts, newest %d", len(again), again[0].ResponseCode)
		}
		// Only through its own endpoint and program.
		if _, _, err := f.s.Outbox.DeliveryAttempts(t.Context(), f.p, other.ID, c.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("through another endpoint: %v", err)
		}
		if _, _, err := f.s.Outbox.DeliveryAttempts(t.Context(), f.p+1000, ep.ID, c.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("through another program: %v", err)
		}
		if _, err := f.s.Outbox.DeleteEndpoint(t.Context(), f.p, audit.Actor{}, ep.ID); err != nil {
			t.Fatal(err)
		}
		var left int64
		if err := f.s.DB.Raw(`SELECT COUNT(*) FROM webhook_delivery_attempts WHERE endpoint_id = ?`, ep.ID).Scan(&left).Error; err != nil || left != 0 {
			t.Fatalf("%d attempts left after deleting the endpoint (%v)", left, err)
		}
	})
}

// TestLastMailStatusFollowsTheLatestAttempt: no attempt yet is not a
// failure; a failed attempt is, with its reason and time; a later success,
// even of an older mail, clears it; a later failure shows again.
func TestLastMailStatusFollowsTheLatestAttempt(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		f := newFixtureWith(t, db, outbox.Options{Mail: true, AllowPrivateTargets: true})
		ctx := t.Context()
		for _, email := range []string{"first@example.test", "second@example.test"} {
			if err := f.s.DB.Transaction(func(tx *gorm.DB) error {
				return f.s.Outbox.EnqueueInvitationMail(tx, f.p, email, "token-"+email, map[string]any{"access": "full"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		status := func() outbox.MailStatus {
			t.Helper()
			st, err := f.s.Outbox.LastMailStatus(ctx, f.p)
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
		if st := status(); st.Failed {
			t.Fatalf("before any attempt: %+v", st)
		}
		cs, err := f.s.Outbox.ClaimMail(ctx, 10, time.Minute)
		if err != nil || len(cs) != 2 {
			t.Fatalf("%d mails claimed (%v)", len(cs), err)
		}
		older, newer := cs[0], cs[1]
		if older.ID > newer.ID {
			older, newer = newer, older
		}
		if err := f.s.Outbox.RecordMail(ctx, &newer, errors.New("SMTP: 554 relay refused"), time.Second); err != nil {
			t.Fatal(err)
		}
		failedAt := f.now
		if st := status(); !st.Failed || st.Reason != "SMTP: 554 relay refused" || !st.At.Equal(failedAt) {
			t.Fatalf("after a failure: %+v", st)
		}
		// The older mail goes out later: the last attempt succeeded.
		f.advance(time.Minute)
		if err := f.s.Outbox.RecordMail(ctx, &older, nil, time.Second); err != nil {
			t.Fatal(err)
		}
		if st := status(); st.Failed {
			t.Fatalf("after a later success: %+v", st)
		}
		// The failed one's retry fails again, later still.
		f.advance(time.Hour)
		cs, err = f.s.Outbox.ClaimMail(ctx, 10, time.Minute)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%d mails claimed for the retry (%v)", len(cs), err)
		}
		if err := f.s.Outbox.RecordMail(ctx, &cs[0], errors.New("SMTP: timed out"), time.Second); err != nil {
			t.Fatal(err)
		}
		if st := status(); !st.Failed || st.Reason != "SMTP: timed out" || !st.At.Equal(f.now) {
			t.Fatalf("after the retry failed: %+v", st)
		}
		if st, err := f.s.Outbox.LastMailStatus(ctx, f.p+1000); err != nil || st.Failed {
			t.Fatalf("another program: %+v (%v)", st, err)
		}
	})
}
