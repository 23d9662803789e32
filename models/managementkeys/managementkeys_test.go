package managementkeys_test

import (
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"keydesk/models/audit"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
)

// A management key is kdm_ + 30 base62 + the 6-character base62 CRC32 of
// those 30, computed as for kd_ keys; a typo fails the checksum offline.
func TestFormatIsTheAPIKeysScheme(t *testing.T) {
	secret := managementkeys.NewSecret()
	if len(secret) != managementkeys.KeyLength || !strings.HasPrefix(secret, "kdm_") {
		t.Fatalf("secret %q", secret)
	}
	random, checksum := secret[4:34], secret[34:]
	v := crc32.ChecksumIEEE([]byte(random))
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	want := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		want[i] = alphabet[v%62]
		v /= 62
	}
	if checksum != string(want) {
		t.Fatalf("checksum %q, want %q", checksum, want)
	}
	if err := managementkeys.CheckFormat(secret); err != nil {
		t.Fatal(err)
	}
	typo := []byte(secret)
	typo[10] ^= 1
	if managementkeys.CheckFormat(string(typo)) == nil {
		t.Fatal("a typo passes the checksum")
	}
	if managementkeys.CheckFormat("kd_"+secret[4:]) == nil || keys.CheckKeyFormat(secret) == nil {
		t.Fatal("a management key passes for an API key or the other way round")
	}
	if !managementkeys.IsIdentifier(managementkeys.NewIdentifier()) {
		t.Fatal("identifier shape")
	}
}

// Create stores the digest and never the secret; bad input changes
// nothing; the cap holds; revoke hides the key and is audited.
func TestCreateListRevoke(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, s, "Demo")
		store := s.ManagementKeys
		actor := audit.Actor{AdminID: f.Full.ID, Email: f.Full.Email}
		for _, in := range []managementkeys.Input{
			{Name: "", Scopes: []string{"keys:read"}},
			{Name: "x", Scopes: nil},
			{Name: "x", Scopes: []string{"keys:admin"}},
			{Name: "x", Scopes: []string{"keys:read"}, Expiry: "2d"},
		} {
			var verr input.ValidationError
			if _, err := store.Create(t.Context(), f.Program.ID, actor, in); !errors.As(err, &verr) {
				t.Fatalf("%+v: %v, want a validation error", in, err)
			}
		}
		k, err := store.Create(t.Context(), f.Program.ID, actor, managementkeys.Input{Name: "CI", Scopes: []string{"keys:write", "keys:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if k.Scopes != "keys:read keys:write" || k.ExpiresAt == nil || k.ExpiresAt.Sub(k.CreatedAt).Hours() != 90*24 {
			t.Fatalf("created %+v", k)
		}
		var rows []map[string]any
		s.DB.Raw(`SELECT * FROM management_keys`).Scan(&rows)
		for col, v := range rows[0] {
			if str, ok := v.(string); ok && strings.Contains(str, k.Secret[4:]) {
				t.Fatalf("column %s holds the secret", col)
			}
			if b, ok := v.([]byte); ok && strings.Contains(string(b), k.Secret[4:]) {
				t.Fatalf("column %s holds the secret", col)
			}
		}
		for i := 1; i < managementkeys.MaxPerProgram; i++ {
			if _, err := store.Create(t.Context(), f.Program.ID, actor, managementkeys.Input{Name: "more", Scopes: []string{"keys:read"}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := store.Create(t.Context(), f.Program.ID, actor, managementkeys.Input{Name: "one too many", Scopes: []string{"keys:read"}}); !errors.Is(err, managementkeys.ErrLimitReached) {
			t.Fatalf("past the cap: %v", err)
		}
		other := modeltest.Seed(t, s, "Other")
		if _, err := store.Revoke(t.Context(), other.Program.ID, actor, k.ID); err == nil {
			t.Fatal("another program revoked the key")
		}
		if _, err := store.Revoke(t.Context(), f.Program.ID, actor, k.ID); err != nil {
			t.Fatal(err)
		}
		list, _ := store.List(t.Context(), f.Program.ID)
		for _, l := range list {
			if l.ID == k.ID {
				t.Fatal("a revoked key is listed")
			}
		}
		c, err := store.CredentialByDigest(t.Context(), keys.KeyDigest(k.Secret))
		if err != nil || c == nil || c.RevokedAt == nil {
			t.Fatalf("credential of the revoked key: %+v %v", c, err)
		}
		var actions []string
		s.DB.Raw(`SELECT action FROM audit_events WHERE program_id = ? AND target_id = ? ORDER BY seq`, f.Program.ID, k.Identifier).Scan(&actions)
		if strings.Join(actions, " ") != "management_key.created management_key.revoked" {
			t.Fatalf("audit %v", actions)
		}
	})
}

// An Idempotency-Key's answer is replayed within 24 hours, sealed at rest,
// and purged after: a sealed secret never outlives the window.
func TestIdempotencyWindow(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		s := modeltest.NewStores(t, db)
		f := modeltest.Seed(t, s, "Demo")
		store := s.ManagementKeys
		now := time.Now()
		s.SetClock(func() time.Time { return now })
		replay, claim, err := store.BeginIdempotent(t.Context(), f.Program.ID, "k1", "hash-a")
		if err != nil || replay != nil || claim == 0 {
			t.Fatalf("claim: %v %v %d", replay, err, claim)
		}
		if _, _, err := store.BeginIdempotent(t.Context(), f.Program.ID, "k1", "hash-a"); !errors.Is(err, managementkeys.ErrIdempotencyInProgress) {
			t.Fatalf("retry while in progress: %v", err)
		}
		if err := store.FinishIdempotent(t.Context(), claim, 201, []byte(`{"key":"kd_secret"}`)); err != nil {
			t.Fatal(err)
		}
		replay, _, err = store.BeginIdempotent(t.Context(), f.Program.ID, "k1", "hash-a")
		if err != nil || replay == nil || replay.Status != 201 || string(replay.Body) != `{"key":"kd_secret"}` {
			t.Fatalf("replay: %+v %v", replay, err)
		}
		if _, _, err := store.BeginIdempotent(t.Context(), f.Program.ID, "k1", "hash-b"); !errors.Is(err, managementkeys.ErrIdempotencyMismatch) {
			t.Fatalf("other body: %v", err)
		}
		now = now.Add(managementkeys.IdempotencyWindow + time.Minute)
		if n, err := store.PurgeIdempotency(t.Context()); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}
		replay, claim, err = store.BeginIdempotent(t.Context(), f.Program.ID, "k1", "hash-b")
		if err != nil || replay != nil || claim == 0 {
			t.Fatalf("after the window the key is free: %v %v", replay, err)
		}
	})
}
