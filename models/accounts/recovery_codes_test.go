package accounts_test

import (
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

// TestRegenerateRecoveryCodes: new codes replace every old one, used or
// not, in the transaction that spends the step-up and audits the change;
// a refused step-up changes nothing; an admin without an authenticator
// app has no codes to regenerate.
func TestRegenerateRecoveryCodes(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		demo := modeltest.Seed(t, s, "Demo Store")
		ctx := t.Context()
		me := audit.Actor{AdminID: demo.Full.ID, Email: demo.Full.Email}
		regenerated := func() int {
			page, err := s.Audit.List(ctx, demo.Program.ID, audit.Filter{Action: audit.ActionRecoveryCodesRegenerated}, audit.PageRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return len(page.Events)
		}

		if _, err := s.Accounts.RegenerateRecoveryCodes(ctx, nil, demo.Program.ID, me); !errors.Is(err, accounts.ErrTOTPOff) {
			t.Fatalf("without an authenticator app: %v, want ErrTOTPOff", err)
		}
		key, err := accounts.NewTOTPKey(me.Email)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totp.GenerateCode(key.Secret(), time.Now())
		old, err := s.Accounts.EnableTOTP(ctx, demo.Program.ID, me, key.Secret(), code)
		if err != nil {
			t.Fatal(err)
		}
		refused := func(*gorm.DB) error { return accounts.ErrReauthGrantSpent }
		if _, err := s.Accounts.RegenerateRecoveryCodes(ctx, refused, demo.Program.ID, me); !errors.Is(err, accounts.ErrReauthGrantSpent) {
			t.Fatalf("with a spent step-up: %v, want ErrReauthGrantSpent", err)
		}
		if regenerated() != 0 {
			t.Fatal("a refused regenerate was audited")
		}
		// One old code used: the new set is ten unused ones all the same.
		if err := s.Accounts.VerifySecondFactor(ctx, demo.Program.ID, me, me.AdminID, old[0]); err != nil {
			t.Fatal(err)
		}
		codes, err := s.Accounts.RegenerateRecoveryCodes(ctx, nil, demo.Program.ID, me)
		if err != nil || len(codes) != accounts.RecoveryCodeCount {
			t.Fatalf("regenerate: %d codes, %v", len(codes), err)
		}
		if left, err := s.Accounts.RecoveryCodesLeft(ctx, me.AdminID); err != nil || left != int64(accounts.RecoveryCodeCount) {
			t.Fatalf("codes left = %d, %v; want %d", left, err, accounts.RecoveryCodeCount)
		}
		if err := s.Accounts.VerifySecondFactor(ctx, demo.Program.ID, me, me.AdminID, old[1]); !errors.Is(err, accounts.ErrInvalidCode) {
			t.Fatalf("an old code after regenerating: %v, want ErrInvalidCode", err)
		}
		if err := s.Accounts.VerifySecondFactor(ctx, demo.Program.ID, me, me.AdminID, codes[0]); err != nil {
			t.Fatalf("a new code: %v", err)
		}
		if regenerated() != 1 {
			t.Fatalf("regenerate audited %d times, want once", regenerated())
		}
	})
}
