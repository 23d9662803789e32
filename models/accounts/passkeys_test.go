package accounts_test

import (
	"errors"
	"testing"

	"github.com/go-webauthn/webauthn/webauthn"

	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/modeltest"
)

// TestPasskeyLifecycle adds, renames and removes passkeys, audited, keeps
// each admin to their own, keeps the two-factor state in step and the
// signature counter moving forward only.
func TestPasskeyLifecycle(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		demo := modeltest.Seed(t, s, "Demo Store")
		ctx := t.Context()
		me := audit.Actor{AdminID: demo.Full.ID, Email: demo.Full.Email}
		other := audit.Actor{AdminID: demo.Limited.ID, Email: demo.Limited.Email}
		cred := &webauthn.Credential{ID: []byte("credential-1"), PublicKey: []byte("pk"), Authenticator: webauthn.Authenticator{SignCount: 1}}

		if _, err := s.Accounts.AddPasskey(ctx, demo.Program.ID, me, "  ", cred); !errors.As(err, new(input.ValidationError)) {
			t.Fatalf("blank name: %v, want a validation error", err)
		}
		pk, err := s.Accounts.AddPasskey(ctx, demo.Program.ID, me, "Work laptop", cred)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := s.Accounts.AdminByID(ctx, demo.Full.ID)
		if err != nil || !admin.HasPasskey() || !admin.HasSecondFactor() {
			t.Fatalf("after adding: %+v, %v; want a passkey counted as second factor", admin, err)
		}
		if _, err := s.Accounts.AddPasskey(ctx, demo.Program.ID, other, "Copy", cred); err == nil {
			t.Fatal("the same credential id was stored twice")
		}
		team, err := s.Accounts.Team(ctx, demo.Program.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range team {
			if m.AdminID == demo.Full.ID && !m.TwoFactor {
				t.Fatal("General » Admins does not count the passkey as two-factor")
			}
		}

		if err := s.Accounts.RenamePasskey(ctx, demo.Program.ID, other, pk.ID, "Mine now"); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("renaming another admin's passkey: %v, want ErrNotFound", err)
		}
		if err := s.Accounts.RemovePasskey(ctx, demo.Program.ID, other, pk.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("removing another admin's passkey: %v, want ErrNotFound", err)
		}
		if err := s.Accounts.RenamePasskey(ctx, demo.Program.ID, me, pk.ID, "Desk key"); err != nil {
			t.Fatal(err)
		}

		used := *cred
		used.Authenticator.SignCount = 5
		if err := s.Accounts.PasskeyUsed(ctx, demo.Full.ID, &used); err != nil {
			t.Fatal(err)
		}
		if err := s.Accounts.PasskeyUsed(ctx, demo.Full.ID, &used); !errors.Is(err, accounts.ErrPasskeyCloned) {
			t.Fatalf("the same counter twice: %v, want ErrPasskeyCloned", err)
		}
		user, err := s.Accounts.WebAuthnUser(ctx, demo.Full.ID)
		if err != nil || len(user.Credentials) != 1 || user.Credentials[0].Authenticator.SignCount != 5 {
			t.Fatalf("stored credential %+v, %v; want counter 5", user, err)
		}
		if accounts.AdminIDFromHandle(user.WebAuthnID()) != demo.Full.ID {
			t.Fatal("the user handle does not name the admin")
		}

		if err := s.Accounts.RemovePasskey(ctx, demo.Program.ID, me, pk.ID); err != nil {
			t.Fatal(err)
		}
		admin, err = s.Accounts.AdminByID(ctx, demo.Full.ID)
		if err != nil || admin.HasPasskey() {
			t.Fatalf("after removing the last passkey: %+v, %v; want none", admin, err)
		}

		page, err := s.Audit.List(ctx, demo.Program.ID, audit.Filter{}, audit.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range page.Events {
			seen[e.Action] = true
		}
		for _, a := range []string{audit.ActionPasskeyAdded, audit.ActionPasskeyRenamed, audit.ActionPasskeyRemoved} {
			if !seen[a] {
				t.Errorf("no %s event", a)
			}
		}
	})
}
