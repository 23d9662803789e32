package accounts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// TestTOTPSecretSealedAtRest stores the authenticator secret sealed under
// a key derived from the master key, still accepts its codes, seals a
// legacy plain secret, and re-seals under a new master key.
func TestTOTPSecretSealedAtRest(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		demo := modeltest.Seed(t, s, "Demo Store")
		ctx := t.Context()
		key, err := accounts.NewTOTPKey(demo.Full.Email)
		if err != nil {
			t.Fatal(err)
		}
		secret := key.Secret()
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		code, _ := totp.GenerateCode(secret, now)
		actor := audit.Actor{AdminID: demo.Full.ID, Email: demo.Full.Email}
		if _, err := s.Accounts.EnableTOTP(ctx, demo.Program.ID, actor, secret, code); err != nil {
			t.Fatal(err)
		}
		stored := func(id int64) string {
			var v string
			if err := s.DB.Raw(`SELECT totp_secret FROM admins WHERE id = ?`, id).Scan(&v).Error; err != nil {
				t.Fatal(err)
			}
			return v
		}
		if v := stored(demo.Full.ID); v == secret || strings.Contains(v, secret) || !strings.HasPrefix(v, "v1:") {
			t.Fatalf("admins.totp_secret holds %q: not sealed", v)
		}
		now = now.Add(30 * time.Second)
		code, _ = totp.GenerateCode(secret, now)
		if err := s.Accounts.VerifySecondFactor(ctx, demo.Program.ID, audit.Actor{}, demo.Full.ID, code); err != nil {
			t.Fatalf("a code of the sealed secret: %v", err)
		}

		// A secret from before sealing is stored plain: it still works,
		// and ResealTOTPSecrets seals it (once).
		legacy, _ := accounts.NewTOTPKey(demo.Limited.Email)
		if err := s.DB.Exec(`UPDATE admins SET totp_secret = ? WHERE id = ?`, legacy.Secret(), demo.Limited.ID).Error; err != nil {
			t.Fatal(err)
		}
		code, _ = totp.GenerateCode(legacy.Secret(), now)
		if err := s.Accounts.VerifySecondFactor(ctx, demo.Program.ID, audit.Actor{}, demo.Limited.ID, code); err != nil {
			t.Fatalf("a code of a legacy plain secret: %v", err)
		}
		if n, err := s.Accounts.ResealTOTPSecrets(ctx); err != nil || n != 1 {
			t.Fatalf("reseal = %d, %v; want the one plain secret", n, err)
		}
		if n, err := s.Accounts.ResealTOTPSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("second reseal = %d, %v; want none", n, err)
		}
		if v := stored(demo.Limited.ID); !strings.HasPrefix(v, "v1:") {
			t.Fatalf("legacy secret still plain: %q", v)
		}

		// A new master key (the old one kept as previous) re-seals both.
		newMaster := []byte("fedcba9876543210fedcba9876543210")
		ring, err := keys.NewKeyring(newMaster, modeltest.MasterKey)
		if err != nil {
			t.Fatal(err)
		}
		rotated := modeltest.Wrap(t, s.DB, ring)
		before := stored(demo.Full.ID)
		if n, err := rotated.Accounts.ResealTOTPSecrets(ctx); err != nil || n != 2 {
			t.Fatalf("reseal after rotation = %d, %v; want 2", n, err)
		}
		if stored(demo.Full.ID) == before {
			t.Fatal("secret not re-sealed under the new master key")
		}
		rotated.SetClock(func() time.Time { return now.Add(60 * time.Second) })
		code, _ = totp.GenerateCode(secret, now.Add(60*time.Second))
		if err := rotated.Accounts.VerifySecondFactor(ctx, demo.Program.ID, audit.Actor{}, demo.Full.ID, code); err != nil {
			t.Fatalf("a code after rotation: %v", err)
		}
		// Moved to another admin's row, a sealed secret does not open.
		if err := s.DB.Exec(`UPDATE admins SET totp_secret = ? WHERE id = ?`, stored(demo.Full.ID), demo.Support.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := rotated.Accounts.VerifySecondFactor(ctx, demo.Program.ID, audit.Actor{}, demo.Support.ID, code); err == nil {
			t.Fatal("a secret copied to another admin's row opened")
		}
	})
}
