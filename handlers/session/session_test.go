package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/gorilla/sessions"
	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/database"
)

// fakeGrants keeps one-time grants in memory, as accounts.Store keeps them
// in reauth_grants.
type fakeGrants struct {
	live   map[string]bool // token → not yet spent
	issued int
}

var errSpent = errors.New("grant already spent")

func (g *fakeGrants) GrantReauth(_ context.Context, adminID, programID int64) (string, error) {
	g.issued++
	token := "grant-" + string(rune('0'+g.issued))
	g.live[token] = true
	return token, nil
}

func (g *fakeGrants) HasReauthGrant(_ context.Context, _, _ int64, token string) (bool, error) {
	return token != "" && g.live[token], nil
}

func (g *fakeGrants) SpendReauthGrant(_, _ int64, token string) database.TxStep {
	return func(*gorm.DB) error {
		if !g.live[token] {
			return errSpent
		}
		delete(g.live, token)
		return nil
	}
}

const (
	adminID  = 7
	programA = 1
	programB = 2
)

var start = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// newTestSession is a session over an in-memory gorilla session, a clock
// the test moves, and the given window.
func newTestSession(window time.Duration) (*Session, *time.Time, *fakeGrants) {
	now := start
	grants := &fakeGrants{live: map[string]bool{}}
	s := &Session{
		raw:    sessions.NewSession(nil, CookieName),
		reauth: Reauth{Window: window, Grants: grants, Now: func() time.Time { return now }},
	}
	return s, &now, grants
}

func allowed(t *testing.T, s *Session, admin *accounts.Admin, programID int64) bool {
	t.Helper()
	ok, err := s.ReauthAllowed(context.Background(), admin, programID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// The re-authentication policy with a window: a confirmation lets the
// admin act for the window, in the program it was given in, unless a lock
// came since.
func TestReauthWindowPolicy(t *testing.T) {
	const window = 15 * time.Minute
	admin := &accounts.Admin{ID: adminID}
	locked := func(until time.Time) *accounts.Admin { return &accounts.Admin{ID: adminID, ReauthLockedUntil: &until} }
	cases := []struct {
		name      string
		open      bool          // confirmed in program A at start
		after     time.Duration // time since start at the check
		admin     *accounts.Admin
		program   int64
		prepare   func(s *Session)
		allowed   bool
		wantUntil time.Time
	}{
		{name: "never confirmed", admin: admin, program: programA},
		{name: "just confirmed", open: true, admin: admin, program: programA, allowed: true, wantUntil: start.Add(window)},
		{name: "within the window", open: true, after: 14 * time.Minute, admin: admin, program: programA, allowed: true, wantUntil: start.Add(window)},
		// At the window's last second the action is still allowed, but the
		// page no longer promises anything (Until is strictly after now).
		{name: "at the window's end", open: true, after: window, admin: admin, program: programA, allowed: true},
		{name: "window closed", open: true, after: window + time.Second, admin: admin, program: programA},
		{name: "in another program", open: true, admin: admin, program: programB},
		{name: "locked since", open: true, after: time.Minute, admin: locked(start.Add(10 * time.Minute)), program: programA},
		{name: "a lock that has passed", open: true, after: 11 * time.Minute, admin: locked(start.Add(10 * time.Minute)), program: programA, allowed: true, wantUntil: start.Add(window)},
		{name: "closed", open: true, admin: admin, program: programA, prepare: func(s *Session) { s.CloseReauth() }},
		{name: "switched to another program", open: true, admin: admin, program: programB, prepare: func(s *Session) { s.SwitchProgram(programA, programB) }},
		// The confirmation belongs to the session and the program it was
		// given in: switching away and back does not bring it back.
		{name: "switched away and back", open: true, admin: admin, program: programA, prepare: func(s *Session) {
			s.SwitchProgram(programA, programB)
			s.SwitchProgram(programB, programA)
		}},
		{name: "switched to the same program", open: true, admin: admin, program: programA, prepare: func(s *Session) { s.SwitchProgram(programA, programA) }, allowed: true, wantUntil: start.Add(window)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, now, grants := newTestSession(window)
			if tc.open {
				if err := s.OpenReauth(context.Background(), adminID, programA); err != nil {
					t.Fatal(err)
				}
			}
			if tc.prepare != nil {
				tc.prepare(s)
			}
			*now = start.Add(tc.after)
			if got := allowed(t, s, tc.admin, tc.program); got != tc.allowed {
				t.Errorf("ReauthAllowed = %v, want %v", got, tc.allowed)
			}
			if got := s.ReauthUntil(tc.admin, tc.program); !got.Equal(tc.wantUntil) {
				t.Errorf("ReauthUntil = %v, want %v", got, tc.wantUntil)
			}
			if step := s.SpendReauth(adminID, tc.program); step != nil {
				t.Error("SpendReauth with a window returned a step: there is nothing to spend")
			}
			if grants.issued != 0 {
				t.Errorf("%d one-time grants issued with a window", grants.issued)
			}
		})
	}
}

// With a zero window every action asks: a confirmation gives one grant,
// checking never spends it, the action spends it in its own transaction,
// and then the next action asks again.
func TestReauthZeroWindowPolicy(t *testing.T) {
	admin := &accounts.Admin{ID: adminID}
	ctx := context.Background()

	t.Run("without a grant", func(t *testing.T) {
		s, _, _ := newTestSession(0)
		if allowed(t, s, admin, programA) {
			t.Error("allowed without a confirmation")
		}
		if err := s.SpendReauth(adminID, programA)(nil); err == nil {
			t.Error("spending a grant that was never given succeeded")
		}
	})

	t.Run("with a grant, checking leaves it, the action spends it", func(t *testing.T) {
		s, now, grants := newTestSession(0)
		if err := s.OpenReauth(ctx, adminID, programA); err != nil {
			t.Fatal(err)
		}
		if grants.issued != 1 || len(grants.live) != 1 {
			t.Fatalf("issued %d grants, %d live; want one", grants.issued, len(grants.live))
		}
		*now = start.Add(time.Hour) // a grant does not depend on the window
		for i := range 3 {          // a dialog opened (GET) checks without spending
			if !allowed(t, s, admin, programA) {
				t.Fatalf("check %d: not allowed with a live grant", i+1)
			}
		}
		if !s.ReauthUntil(admin, programA).IsZero() {
			t.Error("ReauthUntil promised a window with a zero window")
		}
		if allowed(t, s, admin, programB) {
			t.Error("the grant of program A let the admin act in program B")
		}
		step := s.SpendReauth(adminID, programA)
		if step == nil {
			t.Fatal("SpendReauth returned no step with a zero window")
		}
		if err := step(nil); err != nil {
			t.Fatalf("spending the grant: %v", err)
		}
		if allowed(t, s, admin, programA) {
			t.Error("still allowed after the action spent the grant")
		}
		if err := s.SpendReauth(adminID, programA)(nil); !errors.Is(err, errSpent) {
			t.Errorf("second spend: %v, want the store's refusal", err)
		}
	})

	t.Run("a new confirmation replaces the grant", func(t *testing.T) {
		s, _, grants := newTestSession(0)
		if err := s.OpenReauth(ctx, adminID, programA); err != nil {
			t.Fatal(err)
		}
		first := s.grantToken()
		if err := s.OpenReauth(ctx, adminID, programA); err != nil {
			t.Fatal(err)
		}
		if s.grantToken() == first || !grants.live[s.grantToken()] {
			t.Errorf("grant token %q after a second confirmation (first %q)", s.grantToken(), first)
		}
	})

	t.Run("a lock closes it", func(t *testing.T) {
		s, _, _ := newTestSession(0)
		if err := s.OpenReauth(ctx, adminID, programA); err != nil {
			t.Fatal(err)
		}
		until := start.Add(time.Minute)
		if allowed(t, s, &accounts.Admin{ID: adminID, ReauthLockedUntil: &until}, programA) {
			t.Error("allowed while locked out of re-authentication")
		}
	})

	t.Run("a program switch drops the grant", func(t *testing.T) {
		s, _, _ := newTestSession(0)
		if err := s.OpenReauth(ctx, adminID, programA); err != nil {
			t.Fatal(err)
		}
		s.SwitchProgram(programA, programB)
		s.SwitchProgram(programB, programA)
		if allowed(t, s, admin, programA) {
			t.Error("allowed after switching away and back")
		}
	})
}

func TestSessionLifetime(t *testing.T) {
	s, _, _ := newTestSession(0)
	if s.AdminID() != 0 || s.ProgramID() != 0 {
		t.Fatal("an empty session names an admin or a program")
	}
	s.SignIn(adminID, programA, start)
	if s.AdminID() != adminID || s.ProgramID() != programA {
		t.Errorf("signed in as %d in %d", s.AdminID(), s.ProgramID())
	}
	if s.Expired(start.Add(IdleTimeout)) || !s.Expired(start.Add(IdleTimeout+time.Second)) {
		t.Error("idle timeout not applied at its bound")
	}
	if s.Touch(start.Add(seenResolution)) {
		t.Error("touched within a minute of the last write")
	}
	at := start
	for at.Add(IdleTimeout).Before(start.Add(MaxLifetime)) { // a busy session
		at = at.Add(IdleTimeout)
		if !s.Touch(at) {
			t.Fatalf("not touched at %v", at)
		}
	}
	if s.Expired(start.Add(MaxLifetime)) || !s.Expired(start.Add(MaxLifetime+time.Second)) {
		t.Error("absolute lifetime not applied at its bound")
	}
	s.SwitchProgram(programA, programB)
	if s.ProgramID() != programB {
		t.Errorf("program %d after switching to %d", s.ProgramID(), programB)
	}
}

func TestPendingSecondFactor(t *testing.T) {
	s, _, _ := newTestSession(0)
	if id, _ := s.PendingSecondFactor(start); id != 0 {
		t.Fatalf("pending admin %d in an empty session", id)
	}
	s.StartSecondFactor(adminID, "/keys", start)
	if id, next := s.PendingSecondFactor(start.Add(SecondFactorTimeout)); id != adminID || next != "/keys" {
		t.Errorf("pending (%d, %q), want (%d, /keys)", id, next, adminID)
	}
	if id, next := s.PendingSecondFactor(start.Add(SecondFactorTimeout + time.Second)); id != 0 || next != "" {
		t.Errorf("pending (%d, %q) after the timeout", id, next)
	}
	if s.AdminID() != 0 {
		t.Error("a sign-in waiting for its second factor signs somebody in")
	}
}

func TestPendingTOTPAndCSRF(t *testing.T) {
	s, _, _ := newTestSession(0)
	s.SetPendingTOTP("SECRET")
	if s.PendingTOTP() != "SECRET" {
		t.Errorf("pending TOTP %q", s.PendingTOTP())
	}
	s.ClearPendingTOTP()
	if s.PendingTOTP() != "" {
		t.Error("pending TOTP survived ClearPendingTOTP")
	}
	if s.CSRFToken() != "" {
		t.Error("a new session has a CSRF token")
	}
	s.SetCSRFToken("token")
	if s.CSRFToken() != "token" {
		t.Errorf("CSRF token %q", s.CSRFToken())
	}
}

// A ceremony is taken once, and one kind never answers another.
func TestCeremonies(t *testing.T) {
	s, _, _ := newTestSession(0)
	if err := s.StartCeremony(PasskeyReauth, &webauthn.SessionData{Challenge: "reauth-challenge"}); err != nil {
		t.Fatal(err)
	}
	if got := s.TakeCeremony(PasskeySecondFactor); got != nil {
		t.Errorf("a re-authentication ceremony answered as a second factor: %+v", got)
	}
	if got := s.TakeCeremony(PasskeyReauth); got == nil || got.Challenge != "reauth-challenge" {
		t.Fatalf("TakeCeremony = %+v", got)
	}
	if got := s.TakeCeremony(PasskeyReauth); got != nil {
		t.Errorf("a ceremony was taken twice: %+v", got)
	}

	if err := s.StartPasskeyRegistration("Laptop", &webauthn.SessionData{Challenge: "register-challenge"}); err != nil {
		t.Fatal(err)
	}
	name, data := s.TakePasskeyRegistration()
	if name != "Laptop" || data == nil || data.Challenge != "register-challenge" {
		t.Errorf("TakePasskeyRegistration = %q, %+v", name, data)
	}
	if name, data := s.TakePasskeyRegistration(); name != "" || data != nil {
		t.Errorf("a registration was taken twice: %q, %+v", name, data)
	}
}
