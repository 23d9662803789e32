package keys_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

func TestKeyFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k := keys.NewAPIKeyString()
		if len(k) != keys.KeyLength || !strings.HasPrefix(k, "kd_") {
			t.Fatalf("bad key shape %q", k)
		}
		if err := keys.CheckKeyFormat(k); err != nil {
			t.Fatalf("fresh key fails its own checksum: %v", err)
		}
		if seen[k] {
			t.Fatal("duplicate key")
		}
		seen[k] = true
		// Change one character of the random part: the checksum catches it.
		typo := []byte(k)
		if typo[5] == 'a' {
			typo[5] = 'b'
		} else {
			typo[5] = 'a'
		}
		if keys.CheckKeyFormat(string(typo)) == nil {
			t.Fatalf("typo %q passed the checksum", typo)
		}
	}
	for _, bad := range []string{"", "kd_", "xx_" + strings.Repeat("a", 36), "kd_" + strings.Repeat("!", 36), "kd_" + strings.Repeat("a", 37)} {
		if keys.CheckKeyFormat(bad) == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
	if id := keys.NewIdentifier(); !keys.IsIdentifier(id) {
		t.Fatalf("identifier %q has the wrong shape", id)
	}
	if p := keys.NewPartnerID(); !keys.IsPartnerID(p) {
		t.Fatalf("partner id %q has the wrong shape", p)
	}
}

func TestSealingBindsRowAndKeyVersion(t *testing.T) {
	ring := modeltest.Keyring(t)
	sealed, version := ring.Seal(7, "kd_secret")
	if got, err := ring.Open(7, sealed, version); err != nil || got != "kd_secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := ring.Open(8, sealed, version); err == nil {
		t.Fatal("sealed value opened under another row id")
	}
	other, _ := keys.NewKeyring(bytes.Repeat([]byte{1}, 32))
	if _, err := other.Open(7, sealed, version); err == nil {
		t.Fatal("opened with the wrong master key")
	}
	rotated, _ := keys.NewKeyring(bytes.Repeat([]byte{1}, 32), modeltest.MasterKey)
	if got, err := rotated.Open(7, sealed, version); err != nil || got != "kd_secret" {
		t.Fatalf("previous master key no longer opens: %q %v", got, err)
	}
}

func TestAPIKeyLifecycle(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Demo")
		other := modeltest.Seed(t, store, "Other")
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}

		if _, err := store.Keys.Generate(t.Context(), fx.Program.ID, actor, keys.KeyInput{Name: "  "}); err == nil {
			t.Fatal("empty name accepted")
		}
		key, err := store.Keys.Generate(t.Context(), fx.Program.ID, actor, keys.KeyInput{Name: "  Shopify sync ", Description: "Orders"})
		if err != nil {
			t.Fatal(err)
		}
		if key.Name != "Shopify sync" {
			t.Fatalf("name not trimmed: %q", key.Name)
		}
		var verr input.ValidationError
		if _, err := store.Keys.Generate(t.Context(), fx.Program.ID, actor, keys.KeyInput{Name: "shopify SYNC"}); !errors.As(err, &verr) {
			t.Fatalf("duplicate name: err = %v", err)
		}
		// The same name is fine in another program.
		if _, err := store.Keys.Generate(t.Context(), other.Program.ID, actor, keys.KeyInput{Name: "Shopify sync"}); err != nil {
			t.Fatal(err)
		}
		_, secret, err := store.Keys.Reveal(t.Context(), fx.Program.ID, actor, key.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		if keys.CheckKeyFormat(secret) != nil || secret[len(secret)-4:] != key.Last4 {
			t.Fatalf("revealed key %q does not match", secret)
		}
		if _, _, err := store.Keys.Reveal(t.Context(), other.Program.ID, actor, key.ID, false); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("reveal through another program: %v", err)
		}
		if _, err := store.Keys.Delete(t.Context(), fx.Program.ID, actor, key.ID); !errors.Is(err, keys.ErrKeyActive) {
			t.Fatalf("delete active: %v", err)
		}
		if _, err := store.Keys.SetActive(t.Context(), fx.Program.ID, actor, key.ID, false); err != nil {
			t.Fatal(err)
		}
		edited, err := store.Keys.Update(t.Context(), fx.Program.ID, actor, key.ID, keys.KeyInput{Name: "ERP", Description: "new"})
		if err != nil || edited.Name != "ERP" {
			t.Fatalf("edit: %v", err)
		}
		if _, err := store.Keys.Delete(t.Context(), other.Program.ID, actor, key.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatalf("delete through another program: %v", err)
		}
		if _, err := store.Keys.Delete(t.Context(), fx.Program.ID, actor, key.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Keys.ByID(t.Context(), fx.Program.ID, key.ID); !errors.Is(err, database.ErrNotFound) {
			t.Fatal("deleted key still there")
		}
		// The raw database never holds a plaintext key.
		var rows []map[string]any
		store.DB.Raw("SELECT * FROM api_keys").Scan(&rows)
		if len(rows) == 0 {
			t.Fatal("no rows read")
		}
		for _, row := range rows {
			for col, v := range row {
				if s := fmt.Sprint(v); strings.Contains(s, secret) || strings.Contains(s, "kd_") && col != "identifier" {
					t.Fatalf("column %s holds key material: %q", col, s)
				}
			}
		}
		var events []audit.Event
		store.DB.Where("program_id = ?", fx.Program.ID).Order("seq").Find(&events)
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action+":"+e.Outcome)
			if strings.Contains(e.Details, secret) {
				t.Fatal("secret in an audit event")
			}
		}
		want := "program.created:success admin.created:success admin.created:success admin.created:success api_key.generated:success api_key.revealed:success api_key.deleted:refused api_key.inactivated:success api_key.updated:success api_key.deleted:success"
		if got := strings.Join(actions, " "); got != want {
			t.Fatalf("audit actions\n got %s\nwant %s", got, want)
		}
		if _, brk, err := store.Audit.VerifyChain(t.Context(), fx.Program.ID); err != nil || brk != nil {
			t.Fatalf("chain: %v %v", brk, err)
		}
	})
}

func TestKeyLimitHoldsUnderConcurrency(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		fx := modeltest.Seed(t, store, "Demo")
		actor := audit.Actor{AdminID: fx.Full.ID, Email: fx.Full.Email}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var ok, limited, other int
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := store.Keys.Generate(t.Context(), fx.Program.ID, actor, keys.KeyInput{Name: fmt.Sprintf("key %d", i)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, keys.ErrKeyLimitReached):
					limited++
				default:
					other++
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		n, _ := store.Keys.Count(t.Context(), fx.Program.ID)
		var created int64
		store.DB.Raw("SELECT COUNT(*) FROM audit_events WHERE program_id = ? AND action = ? AND outcome = ?", fx.Program.ID, audit.ActionKeyGenerated, audit.OutcomeSuccess).Scan(&created)
		if ok != 20 || limited != 30 || n != 20 || created != 20 {
			t.Fatalf("ok=%d limited=%d other=%d keys=%d creation events=%d", ok, limited, other, n, created)
		}
		if _, brk, err := store.Audit.VerifyChain(t.Context(), fx.Program.ID); err != nil || brk != nil {
			t.Fatalf("chain: %v %v", brk, err)
		}
	})
}

func TestDefaultKeyIsOutsideTheLimitAndCannotBeChanged(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	fx := modeltest.Seed(t, store, "Demo")
	def, err := store.Keys.Default(t.Context(), fx.Program.ID)
	if err != nil || !def.IsDefault || !def.Active {
		t.Fatalf("default key: %+v %v", def, err)
	}
	if n, _ := store.Keys.Count(t.Context(), fx.Program.ID); n != 0 {
		t.Fatalf("the default key counts toward the limit: %d", n)
	}
	if _, err := store.Keys.Update(t.Context(), fx.Program.ID, audit.Actor{}, def.ID, keys.KeyInput{Name: "renamed"}); !errors.Is(err, keys.ErrDefaultKey) {
		t.Fatalf("edit default key: %v", err)
	}
	if _, err := store.Keys.SetActive(t.Context(), fx.Program.ID, audit.Actor{}, def.ID, false); !errors.Is(err, keys.ErrDefaultKey) {
		t.Fatalf("inactivate default key: %v", err)
	}
	if _, err := store.Keys.Delete(t.Context(), fx.Program.ID, audit.Actor{}, def.ID); !errors.Is(err, keys.ErrDefaultKey) {
		t.Fatalf("delete default key: %v", err)
	}
	// It can be revealed like any key, and it is a well-formed key.
	_, secret, err := store.Keys.Reveal(t.Context(), fx.Program.ID, audit.Actor{}, def.ID, false)
	if err != nil || keys.CheckKeyFormat(secret) != nil {
		t.Fatalf("reveal default key: %q %v", secret, err)
	}
}
