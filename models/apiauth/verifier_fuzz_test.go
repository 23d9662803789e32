package apiauth_test

import (
	"errors"
	"hash/crc32"
	"keydesk/models/apiauth"
	"keydesk/models/keys"
	"keydesk/models/members"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FuzzCheckKeyFormat: any string is either refused or has exactly the
// keydesk shape with a checksum that matches; nothing panics.
func FuzzCheckKeyFormat(f *testing.F) {
	f.Add(keys.NewAPIKeyString())
	f.Add("kd_" + strings.Repeat("0", 36))
	f.Add("")
	f.Add("kd_\x00\xff")
	f.Add(strings.Repeat("kd_", 13))
	f.Fuzz(func(t *testing.T, key string) {
		if keys.CheckKeyFormat(key) != nil {
			return
		}
		if len(key) != keys.KeyLength || !strings.HasPrefix(key, keys.KeyPrefix) {
			t.Fatalf("accepted %q of the wrong shape", key)
		}
		for _, c := range key[len(keys.KeyPrefix):] {
			if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
				t.Fatalf("accepted %q with a non-base62 character", key)
			}
		}
		random := key[len(keys.KeyPrefix) : len(keys.KeyPrefix)+30]
		if checksum62(crc32.ChecksumIEEE([]byte(random))) != key[len(key)-6:] {
			t.Fatalf("accepted %q whose checksum does not match", key)
		}
	})
}

func checksum62(v uint32) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	out := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		out[i] = alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// FuzzParseUIToken: a token passes only if it is HS256, signed with the
// key its sub selects, unexpired, with a valid member_id; any other input
// is ErrUnauthorized, never a panic or another error.
func FuzzParseUIToken(f *testing.F) {
	const secret = "kd_fuzzsecretfuzzsecretfuzzsecre000000"
	const sub = "kdi_AAAAAAAAAAAAAAAA"
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sign := func(m jwt.SigningMethod, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(m, claims).SignedString([]byte(secret))
		if err != nil {
			f.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"sub": sub, "member_id": "m1", "exp": now.Add(time.Hour).Unix()}
	f.Add(sign(jwt.SigningMethodHS256, valid))
	f.Add(sign(jwt.SigningMethodHS512, valid))
	f.Add(sign(jwt.SigningMethodHS256, jwt.MapClaims{"member_id": "m1"}))
	f.Add(noneToken(f, valid))
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("..")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		keyFor := func(s string) ([]byte, error) {
			if s != sub {
				return nil, apiauth.ErrUnauthorized
			}
			return []byte(secret), nil
		}
		claims, err := apiauth.ParseUIToken(token, time.Hour, keyFor, func() time.Time { return now })
		if err != nil {
			if !errors.Is(err, apiauth.ErrUnauthorized) {
				t.Fatalf("error other than ErrUnauthorized: %v", err)
			}
			return
		}
		if claims.Subject != sub || !members.ValidMemberID(claims.MemberID) || claims.ExpiresAt == nil || !claims.ExpiresAt.Add(apiauth.UITokenLeeway).After(now) || claims.ExpiresAt.After(now.Add(time.Hour+apiauth.UITokenLeeway)) {
			t.Fatalf("accepted token with claims %+v", claims)
		}
		// It must really be an HS256 token with a valid signature.
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token of %d parts", len(parts))
		}
		tok, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
		if err != nil || tok.Method.Alg() != "HS256" {
			t.Fatalf("accepted a token whose alg is not HS256: %v", err)
		}
		sig, err := jwt.NewParser().DecodeSegment(parts[2])
		if err != nil || jwt.SigningMethodHS256.Verify(parts[0]+"."+parts[1], sig, []byte(secret)) != nil {
			t.Fatal("accepted a token with a bad signature")
		}
	})
}
