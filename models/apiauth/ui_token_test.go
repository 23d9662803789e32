package apiauth_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

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
