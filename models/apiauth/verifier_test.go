package apiauth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	if n := queries.Load(); n != 2 {
		t.Fatalf("unknown key: %d queries in all, want 2 (one miss, then the negative entry)", n)
	}
	typo := []byte(f.secret)
	typo[len(typo)-1] ^= 1
	for range 10 {
		_, _ = v.VerifyAPIKey(t.Context(), f.program.PartnerID, string(typo))
		_, _ = v.VerifyAPIKey(t.Context(), "not-a-partner", f.secret)
	}
	if n := queries.Load(); n != 2 {
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
	})
}

// UI tokens ---------------------------------------------------------------

func signHS(t testing.TB, method jwt.SigningMethod, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyUIToken(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		other := newAPIKeyFixture(t, store, "Other")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		def, err := store.Keys.Default(t.Context(), f.program.ID)
		if err != nil {
			t.Fatal(err)
		}
		defSecret := openKey(t, store, def)
		exp := time.Now().Add(5 * time.Minute).Unix()
		claims := func(extra jwt.MapClaims) jwt.MapClaims {
			c := jwt.MapClaims{"sub": f.key.Identifier, "member_id": "m-1", "exp": exp}
			for k, val := range extra {
				if val == nil {
					delete(c, k)
				} else {
					c[k] = val
				}
			}
			return c
		}

		k, c, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, claims(nil)))
		if err != nil || k.KeyID != f.key.ID || c.MemberID != "m-1" {
			t.Fatalf("valid token: %+v %+v %v", k, c, err)
		}
		k, _, err = v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, defSecret, claims(jwt.MapClaims{"sub": nil})))
		if err != nil || !k.IsDefault {
			t.Fatalf("token without sub, signed with the default key: %+v %v", k, err)
		}
		// Within the leeway an expired token still passes.
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"exp": time.Now().Add(-10 * time.Second).Unix()}))); err != nil {
			t.Fatalf("token 10 s past exp refused despite the leeway: %v", err)
		}

		refused := map[string]string{
			"expired":                  signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()})),
			"no exp":                   signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"exp": nil})),
			"no member_id":             signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"member_id": nil})),
			"numeric member_id":        signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"member_id": 42})),
			"wrong key":                signHS(t, jwt.SigningMethodHS256, keys.NewAPIKeyString(), claims(nil)),
			"default key, with sub":    signHS(t, jwt.SigningMethodHS256, defSecret, claims(nil)),
			"no sub, signed with key":  signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"sub": nil})),
			"unknown sub":              signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"sub": keys.NewIdentifier()})),
			"malformed sub":            signHS(t, jwt.SigningMethodHS256, f.secret, claims(jwt.MapClaims{"sub": "../etc"})),
			"HS512":                    signHS(t, jwt.SigningMethodHS512, f.secret, claims(nil)),
			"HS384":                    signHS(t, jwt.SigningMethodHS384, f.secret, claims(nil)),
			"other program's key":      signHS(t, jwt.SigningMethodHS256, other.secret, claims(jwt.MapClaims{"sub": other.key.Identifier})),
			"other program's key, sub": signHS(t, jwt.SigningMethodHS256, other.secret, claims(nil)),
			"none":                     noneToken(t, claims(nil)),
			"RS256 header":             rs256Looking(t, f.secret, claims(nil)),
			"garbage":                  "not.a.jwt",
			"empty":                    "",
		}
		for name, tok := range refused {
			if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, tok); !errors.Is(err, apiauth.ErrUnauthorized) {
				t.Errorf("%s: err = %v, want ErrUnauthorized", name, err)
			}
		}
		if _, _, err := v.VerifyUIToken(t.Context(), other.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, claims(nil))); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Errorf("token presented with another program's partner-id: %v", err)
		}

		// Inactivating the key that signed a token revokes the token.
		if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false); err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		waitRefused(t, func() error {
			_, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, claims(nil)))
			return err
		})
	})
}

// waitRefused polls for up to a second until fn returns ErrUnauthorized
// (PostgreSQL delivers the revocation notice asynchronously).
func waitRefused(t *testing.T, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		err := fn()
		if errors.Is(err, apiauth.ErrUnauthorized) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still accepted after a second: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func noneToken(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rs256Looking is an RS256 header over the claims, "signed" with an HMAC of
// the key: the classic algorithm-confusion attempt.
func rs256Looking(t testing.TB, secret string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["alg"] = "RS256"
	signing, err := tok.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jwt.SigningMethodHS256.Sign(signing, []byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return signing + "." + tokenSegment(sig)
}

func tokenSegment(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// When the listener's connection drops, the cache is disabled (a notice
// could be missed meanwhile) and, once it reconnects, starts empty.
func TestListenerReconnectFlushesTheCache(t *testing.T) {
	db := modeltest.Postgres(t)
	store := modeltest.NewStores(t, db)
	f := newAPIKeyFixture(t, store, "Demo")
	v := apiauth.NewVerifier(store.Keys, nil, apiauth.VerifierOptions{}, store.Clock)
	store.Revocations.Subscribe(v.RevocationHook())
	appName := "keydesk_test_" + f.program.PartnerID
	startListener(t, v, modeltest.Database{Name: db.Name, URL: db.URL + "&application_name=" + appName})
	if !v.CachingEnabled() {
		t.Fatal("caching off although the listener is listening")
	}
	setActive := func(active bool) { // behind the store's back: no notice
		t.Helper()
		if err := store.DB.Exec(`UPDATE api_keys SET active = ? WHERE id = ?`, active, f.key.ID).Error; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatal(err)
	}
	setActive(false)
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatal("not served from the cache; the test would prove nothing")
	}

	var killed int
	if err := store.DB.Raw(`SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?`, appName).Scan(&killed).Error; err != nil || killed != 1 {
		t.Fatalf("terminated %d listener connections: %v", killed, err)
	}
	// The cached entry is gone as soon as the listener notices.
	waitRefused(t, func() error {
		_, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
		return err
	})
	deadline := time.Now().Add(3 * time.Second)
	for !v.CachingEnabled() {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Listening again: revocations are announced once more.
	setActive(true)
	if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, func() error {
		_, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
		return err
	})
}

// benchKey is a program with one key on a fresh SQLite store, and the key.
func benchKey(b *testing.B) (*modeltest.Stores, *accounts.Program, *keys.APIKey, string) {
	b.Helper()
	db := modeltest.SQLite(b)
	store := modeltest.Wrap(modeltest.Open(b, db), modeltest.Keyring(b))
	p, err := store.Keys.CreateProgram(context.Background(), audit.Actor{}, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	k, err := store.Keys.Generate(context.Background(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	secret, err := store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
	if err != nil {
		b.Fatal(err)
	}
	return store, p, k, secret
}

// BenchmarkVerifyAPIKeyCached measures the hot path: format check, SHA-256,
// cache hit, usage record.
func BenchmarkVerifyAPIKeyCached(b *testing.B) {
	store, p, _, secret := benchKey(b)
	v := apiauth.NewVerifier(store.Keys, apiauth.NewUsageRecorder(store.Keys, store.Clock), apiauth.DefaultVerifierOptions(), store.Clock)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.VerifyAPIKey(context.Background(), p.PartnerID, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyUITokenCached measures a UI token's verification with the
// key cached: JWT parse, HMAC, unsealing the key.
func BenchmarkVerifyUITokenCached(b *testing.B) {
	store, p, k, secret := benchKey(b)
	token := signHS(b, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": k.Identifier, "member_id": "m1", "exp": time.Now().Add(time.Hour).Unix()})
	v := apiauth.NewVerifier(store.Keys, apiauth.NewUsageRecorder(store.Keys, store.Clock), apiauth.DefaultVerifierOptions(), store.Clock)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := v.VerifyUIToken(context.Background(), p.PartnerID, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
