package accounts_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// race runs n calls of fn at once: every goroutine waits at the start line,
// so the calls really overlap.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func countErrs(errs []error, match func(error) bool) int {
	n := 0
	for _, err := range errs {
		if match(err) {
			n++
		}
	}
	return n
}

// throttleLimits lists the "limit" detail of the throttled sign-in events.
func throttleLimits(t *testing.T, s *modeltest.Stores, programID int64) []string {
	t.Helper()
	var details []string
	if err := s.DB.Raw(`SELECT details FROM audit_events WHERE program_id = ? AND action = ? ORDER BY seq`, programID, audit.ActionSignInFailed).Scan(&details).Error; err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range details {
		if !strings.Contains(d, `"throttled"`) {
			continue
		}
		for _, limit := range []string{"account_ip", "account", "ip"} {
			if strings.Contains(d, `"limit":"`+limit+`"`) {
				out = append(out, limit)
			}
		}
	}
	return out
}

// Twelve simultaneous sign-ins for one account: no more passwords are
// evaluated than the limit, even with the right one among them.
func TestAuthenticateConcurrentAttemptsEvaluateAtMostTheLimit(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, s, "Demo Store")
		ctx := context.Background()
		actor := audit.Actor{IP: "192.0.2.10"}

		errs := race(12, func(int) error {
			_, err := s.Accounts.Authenticate(ctx, f.Full.Email, "wrong password!", actor)
			return err
		})
		wrong := countErrs(errs, func(err error) bool { return errors.Is(err, accounts.ErrInvalidCredentials) })
		throttled := countErrs(errs, func(err error) bool { return errors.Is(err, accounts.ErrThrottled) })
		if wrong != 5 || throttled != 7 {
			t.Fatalf("12 simultaneous wrong passwords: %d evaluated, %d throttled (want 5 and 7): %v", wrong, throttled, errs)
		}
		if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, actor); !errors.Is(err, accounts.ErrThrottled) {
			t.Fatalf("right password after the race: %v, want ErrThrottled", err)
		}

		// Another account, the right password among eleven wrong ones.
		other := audit.Actor{IP: "192.0.2.11"}
		errs = race(12, func(i int) error {
			password := "wrong password!"
			if i == 6 {
				password = modeltest.Password
			}
			_, err := s.Accounts.Authenticate(ctx, f.Support.Email, password, other)
			return err
		})
		wrong = countErrs(errs, func(err error) bool { return errors.Is(err, accounts.ErrInvalidCredentials) })
		ok := countErrs(errs, func(err error) bool { return err == nil })
		if wrong > 5 || wrong+ok > 6 || ok > 1 {
			t.Fatalf("right password among 11 wrong: %d wrong evaluated, %d signed in: %v", wrong, ok, errs)
		}
	})
}

// A stranger failing from one address must not lock the owner out at
// another; enough failures across addresses still lock the account, and the
// audit trail says which limit refused.
func TestAuthenticateThrottlesPerAccountAndAddress(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, s, "Demo Store")
		ctx := context.Background()
		// Right passwords are no failures: signing in often never throttles.
		for i := range 6 {
			if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, audit.Actor{IP: "203.0.113.5"}); err != nil {
				t.Fatalf("sign-in %d with the right password: %v", i, err)
			}
		}
		stranger := audit.Actor{IP: "198.51.100.7"}
		for i := range 5 {
			if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, "wrong password!", stranger); !errors.Is(err, accounts.ErrInvalidCredentials) {
				t.Fatalf("stranger attempt %d: %v", i, err)
			}
		}
		if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, stranger); !errors.Is(err, accounts.ErrThrottled) {
			t.Fatalf("sixth attempt from the stranger's address: %v, want ErrThrottled", err)
		}
		owner := audit.Actor{IP: "203.0.113.5"}
		if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, owner); err != nil {
			t.Fatalf("the owner at another address was locked out: %v", err)
		}

		// Account-wide: 20 failures spread over four addresses lock the
		// account at every address.
		for ip := range 3 {
			a := audit.Actor{IP: "198.51.100." + string(rune('a'+ip))}
			for range 5 {
				if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, "wrong password!", a); !errors.Is(err, accounts.ErrInvalidCredentials) {
					t.Fatalf("address %s: %v", a.IP, err)
				}
			}
		}
		if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, owner); !errors.Is(err, accounts.ErrThrottled) {
			t.Fatalf("20 failures across addresses: %v, want ErrThrottled", err)
		}
		limits := throttleLimits(t, s, f.Program.ID)
		if len(limits) != 2 || limits[0] != "account_ip" || limits[1] != "account" {
			t.Fatalf("throttled sign-ins audited with limits %v, want [account_ip account]", limits)
		}
	})
}

// Twelve simultaneous re-authentications: at most five passwords are
// evaluated, the lock comes, and no success is accepted after it.
func TestReauthenticateConcurrentAttempts(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, s, "Demo Store")
		ctx := context.Background()
		actor := audit.Actor{AdminID: f.Full.ID, Email: f.Full.Email, IP: "192.0.2.20"}
		isWrong := func(err error) bool {
			var w *accounts.WrongPasswordError
			return errors.As(err, &w)
		}
		errs := race(12, func(int) error {
			return s.Accounts.Reauthenticate(ctx, f.Program.ID, actor, "wrong password!")
		})
		var lockedErr *accounts.ReauthLockedError
		isLocked := func(err error) bool { return errors.As(err, &lockedErr) }
		if wrong, locked := countErrs(errs, isWrong), countErrs(errs, isLocked); wrong > 4 || wrong+locked != 12 {
			t.Fatalf("12 simultaneous wrong passwords: %d answered 'wrong', %d 'locked': %v", wrong, locked, errs)
		}
		if err := s.Accounts.Reauthenticate(ctx, f.Program.ID, actor, modeltest.Password); !errors.As(err, &lockedErr) {
			t.Fatalf("right password after 12 failures: %v, want locked", err)
		}
		if evaluated := countAudit(t, s, f.Program.ID, audit.ActionReauthFailed, audit.OutcomeFailure); evaluated != 5 {
			t.Fatalf("%d wrong passwords evaluated, want 5", evaluated)
		}

		// Another admin: the right password among eleven wrong ones is
		// never accepted once the lock is written, and a success does not
		// let more than five wrong passwords through.
		support := audit.Actor{AdminID: f.Support.ID, Email: f.Support.Email, IP: "192.0.2.21"}
		errs = race(12, func(i int) error {
			password := "wrong password!"
			if i == 6 {
				password = modeltest.Password
			}
			return s.Accounts.Reauthenticate(ctx, f.Program.ID, support, password)
		})
		var events []audit.Event
		if err := s.DB.Where("program_id = ? AND target_id = ?", f.Program.ID, strconv.FormatInt(f.Support.ID, 10)).Order("seq").Find(&events).Error; err != nil {
			t.Fatal(err)
		}
		locked, failures := false, 0
		for _, e := range events {
			switch {
			case e.Action == audit.ActionReauthLocked:
				locked = true
			case e.Action == audit.ActionReauthSucceeded && locked:
				t.Fatalf("a success was accepted after the lock: %v", errs)
			case e.Action == audit.ActionReauthFailed && e.Outcome == audit.OutcomeFailure:
				failures++
			}
		}
		if failures > 5 {
			t.Fatalf("%d wrong passwords evaluated, want at most 5: %v", failures, errs)
		}
	})
}

func countAudit(t *testing.T, s *modeltest.Stores, programID int64, action, outcome string) int {
	t.Helper()
	var n int64
	if err := s.DB.Raw(`SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?`, programID, action, outcome).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// An unknown email costs the same argon2 comparison as a known one: one
// comparison, with the parameters real password hashes use, so the answer
// takes as long whether or not the account exists.
func TestAuthenticateComparesOnePasswordWhetherOrNotTheEmailExists(t *testing.T) {
	s := modeltest.NewStores(t, modeltest.SQLite(t))
	f := modeltest.Seed(t, s, "Demo Store")
	compared := accounts.RecordPasswordComparisons(t)
	ctx := context.Background()
	actor := audit.Actor{IP: "203.0.113.9"}

	if _, err := s.Accounts.Authenticate(ctx, f.Full.Email, modeltest.Password, actor); err != nil {
		t.Fatalf("right password: %v", err)
	}
	real := compared()
	if len(real) != 1 {
		t.Fatalf("a sign-in compared %d passwords, want 1", len(real))
	}
	cases := []struct{ name, email, password string }{
		{"known email, wrong password", f.Full.Email, "wrong password!"},
		{"unknown email", "nobody@example.test", "wrong password!"},
	}
	for _, c := range cases {
		if _, err := s.Accounts.Authenticate(ctx, c.email, c.password, actor); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := compared()
		if len(got) != 1 || got[0] != real[0] {
			t.Errorf("%s: compared %q, want one comparison with %q", c.name, got, real[0])
		}
	}
}
