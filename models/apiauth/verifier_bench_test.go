package apiauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/accounts"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// benchKey is a program with one key on a fresh SQLite store, and the key.
func benchKey(b *testing.B) (*modeltest.Stores, *accounts.Program, *keys.APIKey, string) {
	b.Helper()
	db := modeltest.SQLite(b)
	store := modeltest.Wrap(b, modeltest.Open(b, db), modeltest.Keyring(b))
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

// BenchmarkVerifyAPIKeyUncached measures a cache miss: the lookup by
// digest that every key pays once per cache TTL.
func BenchmarkVerifyAPIKeyUncached(b *testing.B) {
	store, p, _, secret := benchKey(b)
	opts := apiauth.DefaultVerifierOptions()
	opts.Caching = false
	v := apiauth.NewVerifier(store.Keys, apiauth.NewUsageRecorder(store.Keys, store.Clock), opts, store.Clock)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.VerifyAPIKey(context.Background(), p.PartnerID, secret); err != nil {
			b.Fatal(err)
		}
	}
}
