package accounts_test

import (
	"strings"
	"testing"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// TestSSOClientSecretSealedAtRest stores the client secret sealed (bound
// to its program's row), opens it, and re-seals it under a new master key.
func TestSSOClientSecretSealedAtRest(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		demo := modeltest.Seed(t, s, "Demo Store")
		other := modeltest.Seed(t, s, "Other Store")
		ctx := t.Context()
		const secret = "the-client-secret-of-demo"
		in := accounts.SSOInput{IssuerURL: "https://login.example.com", ClientID: "keydesk", ClientSecret: secret, AllowedDomains: "demo.example"}
		if err := s.Accounts.SaveSSOConfig(ctx, nil, audit.Actor{}, demo.Program.ID, in, true); err != nil {
			t.Fatal(err)
		}
		stored := func(programID int64) string {
			var v string
			if err := s.DB.Raw(`SELECT client_secret FROM single_sign_on WHERE program_id = ?`, programID).Scan(&v).Error; err != nil {
				t.Fatal(err)
			}
			return v
		}
		if v := stored(demo.Program.ID); v == "" || strings.Contains(v, secret) {
			t.Fatalf("client_secret holds %q: not sealed", v)
		}
		if cfg, err := s.Accounts.SSOConfig(ctx, demo.Program.ID); err != nil || cfg.ClientSecret != secret {
			t.Fatalf("opened secret: %v", err)
		}
		// An empty secret in the form keeps the stored one.
		in.ClientSecret = ""
		if err := s.Accounts.SaveSSOConfig(ctx, nil, audit.Actor{}, demo.Program.ID, in, true); err != nil {
			t.Fatal(err)
		}
		if cfg, _ := s.Accounts.SSOConfig(ctx, demo.Program.ID); cfg.ClientSecret != secret {
			t.Fatal("an empty Client secret dropped the stored one")
		}
		if n, err := s.Accounts.ResealSSOSecrets(ctx); err != nil || n != 0 {
			t.Fatalf("reseal under the same key = %d, %v; want none", n, err)
		}
		ring, err := keys.NewKeyring([]byte("fedcba9876543210fedcba9876543210"), modeltest.MasterKey)
		if err != nil {
			t.Fatal(err)
		}
		rotated := modeltest.Wrap(t, s.DB, ring)
		before := stored(demo.Program.ID)
		if n, err := rotated.Accounts.ResealSSOSecrets(ctx); err != nil || n != 1 {
			t.Fatalf("reseal after rotation = %d, %v; want 1", n, err)
		}
		if stored(demo.Program.ID) == before {
			t.Fatal("secret not re-sealed under the new master key")
		}
		if cfg, err := rotated.Accounts.SSOConfig(ctx, demo.Program.ID); err != nil || cfg.ClientSecret != secret {
			t.Fatalf("secret after rotation: %v", err)
		}
		// Moved to another program's row, the sealed secret does not open.
		in.ClientSecret, in.AllowedDomains = "x", "other.example"
		if err := rotated.Accounts.SaveSSOConfig(ctx, nil, audit.Actor{}, other.Program.ID, in, true); err != nil {
			t.Fatal(err)
		}
		if err := s.DB.Exec(`UPDATE single_sign_on SET client_secret = ? WHERE program_id = ?`, stored(demo.Program.ID), other.Program.ID).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := rotated.Accounts.SSOConfig(ctx, other.Program.ID); err == nil {
			t.Fatal("a secret copied to another program's row opened")
		}
	})
}
