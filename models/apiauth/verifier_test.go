package apiauth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/accounts"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// apiKeyFixture is a program with a generated key whose secret is known.
type apiKeyFixture struct {
	store   *modeltest.Stores
	program *accounts.Program
	key     *keys.APIKey
	secret  string
}

func newAPIKeyFixture(t *testing.T, store *modeltest.Stores, name string) apiKeyFixture {
	t.Helper()
	p, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Integration"})
	if err != nil {
		t.Fatal(err)
	}
	return apiKeyFixture{store: store, program: p, key: k, secret: openKey(t, store, k)}
}

func openKey(t *testing.T, store *modeltest.Stores, k *keys.APIKey) string {
	t.Helper()
	secret, err := store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// countQueries counts the SQL statements db runs from now on.
func countQueries(t *testing.T, db *gorm.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(*gorm.DB) { n.Add(1) }
	if err := db.Callback().Raw().After("gorm:raw").Register("test:count_raw", count); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Query().After("gorm:query").Register("test:count_query", count); err != nil {
		t.Fatal(err)
	}
	if err := db.Callback().Row().After("gorm:row").Register("test:count_row", count); err != nil {
		t.Fatal(err)
	}
	return &n
}

// startListener runs the PostgreSQL revocation listener for the test (a
// no-op on SQLite, whose invalidation is in-process).
func startListener(t *testing.T, v *apiauth.Verifier, db modeltest.Database) {
	t.Helper()
	if !database.IsPostgresURL(db.URL) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.ListenForRevocations(ctx, db.URL, slog.New(slog.NewTextHandler(io.Discard, nil)), ready)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("revocation listener did not start")
	}
}

func newVerifier(t *testing.T, store *modeltest.Stores, db modeltest.Database, opts apiauth.VerifierOptions) *apiauth.Verifier {
	t.Helper()
	opts.Caching = !database.IsPostgresURL(db.URL)
	v := apiauth.NewVerifier(store.Keys, apiauth.NewUsageRecorder(store.Keys, store.Clock), opts, store.Clock)
	store.Revocations.Subscribe(v.RevocationHook())
	startListener(t, v, db)
	return v
}

func TestVerifyAPIKeyAndEveryRefusal(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		other := newAPIKeyFixture(t, store, "Other")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())

		k, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
		if err != nil {
			t.Fatalf("valid key refused: %v", err)
		}
		if k.KeyID != f.key.ID || k.ProgramID != f.program.ID || k.Identifier != f.key.Identifier || k.Name != "Integration" || k.ProgramName != "Demo" || k.IsDefault {
			t.Fatalf("verified key = %+v", k)
		}

		def, err := store.Keys.Default(t.Context(), f.program.ID)
		if err != nil {
			t.Fatal(err)
		}
		if k, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, openKey(t, store, def)); err != nil || !k.IsDefault {
			t.Fatalf("legacy default key: %+v, %v", k, err)
		}

		typo := []byte(f.secret)
		typo[10] ^= 1
		cases := map[string][2]string{
			"no key":               {f.program.PartnerID, ""},
			"no partner id":        {"", f.secret},
			"malformed partner id": {"ABCDEF0123", f.secret},
			"unknown partner id":   {"0000000000", f.secret},
			"checksum fails":       {f.program.PartnerID, string(typo)},
			"unknown key":          {f.program.PartnerID, keys.NewAPIKeyString()},
			"other program's key":  {f.program.PartnerID, other.secret},
			"key for other's id":   {other.program.PartnerID, f.secret},
			"not a key":            {f.program.PartnerID, "hello"},
		}
		for name, c := range cases {
			if _, err := v.VerifyAPIKey(t.Context(), c[0], c[1]); !errors.Is(err, apiauth.ErrUnauthorized) {
				t.Errorf("%s: err = %v, want ErrUnauthorized", name, err)
			}
		}

		// Inactive, active again, then deleted.
		if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false); err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("inactive key: err = %v", err)
		}
		if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, true); err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
			t.Fatalf("re-activated key refused (stale negative entry?): %v", err)
		}
		if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Keys.Delete(t.Context(), f.program.ID, audit.Actor{}, f.key.ID); err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("deleted key: err = %v", err)
		}
	})
}

// The cache answers repeated verifications without the database, and a
// malformed key never reaches it.
func TestVerifierAsksTheDatabaseOnlyOnAMiss(t *testing.T) {
	db := modeltest.SQLite(t)
	store := modeltest.NewStores(t, db)
	f := newAPIKeyFixture(t, store, "Demo")
	v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
	queries := countQueries(t, store.DB)

	for range 100 {
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
			t.Fatal(err)
		}
	}
	if n := queries.Load(); n != 1 {
		t.Fatalf("100 verifications ran %d queries, want 1", n)
	}
	unknown := keys.NewAPIKeyString()
	for range 10 {
		_, _ = v.VerifyAPIKey(t.Context(), f.program.PartnerID, unknown)
	}
	if n := queries.Load(); n != 3 {
		t.Fatalf("unknown key: %d queries in all, want 3 (one miss: the keys, then the retired secrets; then the negative entry)", n)
	}
	typo := []byte(f.secret)
	typo[len(typo)-1] ^= 1
	for range 10 {
		_, _ = v.VerifyAPIKey(t.Context(), f.program.PartnerID, string(typo))
		_, _ = v.VerifyAPIKey(t.Context(), "not-a-partner", f.secret)
	}
	if n := queries.Load(); n != 3 {
		t.Fatalf("malformed credentials reached the database: %d queries", n)
	}
}

// A verified key is trusted for TTL at most, even if a revocation notice
// were lost (here: the row changed behind the store's back).
func TestVerifierTTLBackstop(t *testing.T) {
	db := modeltest.SQLite(t)
	store := modeltest.NewStores(t, db)
	f := newAPIKeyFixture(t, store, "Demo")
	v := newVerifier(t, store, db, apiauth.VerifierOptions{TTL: 100 * time.Millisecond, NegativeTTL: 50 * time.Millisecond})
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatal(err)
	}
	if err := store.DB.Exec(`UPDATE api_keys SET active = FALSE WHERE id = ?`, f.key.ID).Error; err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatalf("within the TTL the cached entry should answer: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
		if errors.Is(err, apiauth.ErrUnauthorized) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the key was still accepted long after the TTL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestVerifierCacheIsBounded(t *testing.T) {
	db := modeltest.SQLite(t)
	store := modeltest.NewStores(t, db)
	f := newAPIKeyFixture(t, store, "Demo")
	v := newVerifier(t, store, db, apiauth.VerifierOptions{MaxEntries: 16})
	for range 200 {
		_, _ = v.VerifyAPIKey(t.Context(), f.program.PartnerID, keys.NewAPIKeyString())
	}
	if _, neg := v.CacheSize(); neg > 16 || neg == 0 {
		t.Fatalf("negative entries = %d, want 1..16", neg)
	}
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatal(err)
	}
	if pos, _ := v.CacheSize(); pos != 1 {
		t.Fatalf("positive entries = %d, want 1 (negative entries must not crowd them out)", pos)
	}
}

// A request that reads the key while the revoking transaction is still
// open sees it active and would cache it; the post-commit invalidation
// (NOTIFY on PostgreSQL, the write-lock wait on SQLite) must remove it.
func TestRevocationBeatsAConcurrentReload(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		hook := v.RevocationHook()
		var raced atomic.Bool
		store.Revocations.Subscribe(func(tx *gorm.DB, digest []byte) error {
			if err := hook(tx, digest); err != nil {
				return err
			}
			// An invalidation that did not wait for the commit would fire
			// during this pause, and be too early.
			time.Sleep(50 * time.Millisecond)
			// Another request, on another connection, before the commit.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err == nil {
					raced.Store(true)
				}
			}()
			wg.Wait()
			return nil
		})
		if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false); err != nil {
			t.Fatal(err)
		}
		if !raced.Load() {
			t.Fatal("the concurrent request did not see the pre-commit state; the test proves nothing")
		}
		v.WaitPending()
		deadline := time.Now().Add(time.Second)
		for {
			_, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
			if errors.Is(err, apiauth.ErrUnauthorized) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("revoked key still accepted a second after the commit: %v", err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestUsageRecorderBatchesLastUsed(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		usage := apiauth.NewUsageRecorder(store.Keys, store.Clock)
		v := apiauth.NewVerifier(store.Keys, usage, apiauth.VerifierOptions{Caching: true}, store.Clock)
		clock := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		store.SetClock(func() time.Time { return clock })

		for range 50 {
			if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
				t.Fatal(err)
			}
		}
		lastUsed := func() *time.Time {
			k, err := store.Keys.ByID(t.Context(), f.program.ID, f.key.ID)
			if err != nil {
				t.Fatal(err)
			}
			return k.LastUsedAt
		}
		if got := lastUsed(); got != nil {
			t.Fatalf("last_used_at written on the request path: %v", got)
		}
		if usage.Pending() != 1 {
			t.Fatalf("pending = %d, want 1", usage.Pending())
		}
		if err := usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); got == nil || !got.Equal(clock) {
			t.Fatalf("last_used_at = %v, want %v", got, clock)
		}
		if usage.Pending() != 0 {
			t.Fatal("flush left entries pending")
		}
		// Another instance's older time never moves the column backwards.
		clock = clock.Add(-time.Hour)
		usage.Record(f.key.ID)
		if err := usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); got == nil || !got.Equal(clock.Add(time.Hour)) {
			t.Fatalf("last_used_at moved backwards to %v", got)
		}

		// A busy key is handed to the recorder at most once a second, so
		// "last used" lags the true last call by less than a second; a
		// clock set back notes it again.
		start := clock.Add(time.Hour) // the 50 calls' time
		verifyAt := func(at time.Time) {
			t.Helper()
			clock = at
			if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
				t.Fatal(err)
			}
		}
		verifyAt(start.Add(999 * time.Millisecond))
		if usage.Pending() != 0 {
			t.Fatal("noted again within the second")
		}
		verifyAt(start.Add(time.Second))
		if usage.Pending() != 1 {
			t.Fatal("not noted a second later")
		}
		if err := usage.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); got == nil || !got.Equal(start.Add(time.Second)) {
			t.Fatalf("last_used_at = %v, want %v", got, start.Add(time.Second))
		}
		verifyAt(start.Add(-time.Minute))
		if usage.Pending() != 1 {
			t.Fatal("a call at an earlier time was not noted")
		}
	})
}

// UI tokens ---------------------------------------------------------------
