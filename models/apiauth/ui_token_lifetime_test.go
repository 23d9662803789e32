package apiauth_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/apiauth"
	"keydesk/models/modeltest"
)

// A UI token may not live longer than the maximum lifetime (1h by default,
// plus the leeway), must carry exp as a number and must not be issued in
// the future: a leaked long-lived token would otherwise be a bearer
// credential for as long as its key lives.
func TestUITokenLifetimeAndTimeClaims(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		now := time.Now()
		claims := func(extra jwt.MapClaims) jwt.MapClaims {
			c := jwt.MapClaims{"sub": f.key.Identifier, "member_id": "m-1", "exp": now.Add(5 * time.Minute).Unix()}
			for k, val := range extra {
				c[k] = val
			}
			return c
		}
		accepted := map[string]jwt.MapClaims{
			"exp at the maximum":          claims(jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}),
			"exp at the maximum + leeway": claims(jwt.MapClaims{"exp": now.Add(time.Hour + apiauth.UITokenLeeway - 2*time.Second).Unix()}),
			"iat now":                     claims(jwt.MapClaims{"iat": now.Unix()}),
			"iat within the leeway ahead": claims(jwt.MapClaims{"iat": now.Add(10 * time.Second).Unix()}),
		}
		for name, c := range accepted {
			if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, c)); err != nil {
				t.Errorf("%s: refused: %v", name, err)
			}
		}
		refused := map[string]jwt.MapClaims{
			"exp a day ahead":       claims(jwt.MapClaims{"exp": now.Add(24 * time.Hour).Unix()}),
			"exp past max + leeway": claims(jwt.MapClaims{"exp": now.Add(time.Hour + apiauth.UITokenLeeway + 5*time.Second).Unix()}),
			"exp in year 2286":      claims(jwt.MapClaims{"exp": json.Number("1e10")}),
			"exp as a string":       claims(jwt.MapClaims{"exp": jsonString(now.Add(5 * time.Minute).Unix())}),
			"iat as a string":       claims(jwt.MapClaims{"iat": jsonString(now.Unix())}),
			"iat in the future":     claims(jwt.MapClaims{"iat": now.Add(10 * time.Minute).Unix()}),
			"iat beyond leeway":     claims(jwt.MapClaims{"iat": now.Add(apiauth.UITokenLeeway + 5*time.Second).Unix()}),
			"nbf as a string":       claims(jwt.MapClaims{"nbf": jsonString(now.Unix())}),
			"exp null":              claims(jwt.MapClaims{"exp": nil}),
			"exp a boolean":         claims(jwt.MapClaims{"exp": true}),
			"exp an object":         claims(jwt.MapClaims{"exp": map[string]any{"t": now.Unix()}}),
		}
		for name, c := range refused {
			if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, signHS(t, jwt.SigningMethodHS256, f.secret, c)); !errors.Is(err, apiauth.ErrUnauthorized) {
				t.Errorf("%s: err = %v, want ErrUnauthorized", name, err)
			}
		}
	})
}

// jsonString is a number written as a JSON string, "1700000000".
func jsonString(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
