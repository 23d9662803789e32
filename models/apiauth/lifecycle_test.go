package apiauth_test

import (
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/database"
	"keydesk/models/input"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

func fixedClock(store *modeltest.Stores, at time.Time) *time.Time {
	now := at
	store.SetClock(func() time.Time { return now })
	return &now
}

// An expiring key works until the instant it expires and not at it, from
// the cache: no query decides the refusal.
func TestExpiryExactlyAtTheBoundaryThroughTheCache(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		now := fixedClock(store, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		p, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, "Demo")
		if err != nil {
			t.Fatal(err)
		}
		k, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Seven days", Expiry: keys.Expiry7Days})
		if err != nil {
			t.Fatal(err)
		}
		want := now.AddDate(0, 0, 7)
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(want) || k.Secret == "" {
			t.Fatalf("expires %v, want %v (secret shown once: %v)", k.ExpiresAt, want, k.Secret != "")
		}
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		v.SetCaching(true)
		if _, err := v.VerifyAPIKey(t.Context(), p.PartnerID, k.Secret); err != nil {
			t.Fatalf("fresh key: %v", err)
		}
		// Cached a second before the end (within the cache's TTL), then
		// refused at the instant without asking the database.
		*now = want.Add(-time.Second)
		if _, err := v.VerifyAPIKey(t.Context(), p.PartnerID, k.Secret); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		queries := countQueries(t, store.DB)
		*now = want.Add(-time.Nanosecond)
		if _, err := v.VerifyAPIKey(t.Context(), p.PartnerID, k.Secret); err != nil {
			t.Fatalf("a nanosecond before expiry: %v", err)
		}
		*now = want
		_, err = v.VerifyAPIKey(t.Context(), p.PartnerID, k.Secret)
		if !errors.Is(err, apiauth.ErrExpired) || !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("at the expiry instant: %v, want ErrExpired (an ErrUnauthorized)", err)
		}
		if n := queries.Load(); n != 0 {
			t.Fatalf("%d queries decided cached verifications", n)
		}
		// A custom date in the past is refused with a message; the cap too.
		_, err = store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Past", Expiry: keys.ExpiryCustom, ExpiryDate: "2020-01-01"})
		var verr input.ValidationError
		if !errors.As(err, &verr) || verr["expiry_date"] == "" {
			t.Fatalf("past date: %v", err)
		}
		if err := store.Keys.SetMaxKeyLifetime(t.Context(), p.ID, audit.Actor{}, 30); err != nil {
			t.Fatal(err)
		}
		for _, choice := range []string{keys.ExpiryNever, keys.Expiry90Days, keys.Expiry1Year} {
			if _, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Long " + choice, Expiry: choice}); !errors.As(err, &verr) || verr["expiry"] == "" {
				t.Fatalf("%s under a 30-day cap: %v", choice, err)
			}
		}
		if _, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Within cap", Expiry: keys.Expiry30Days}); err != nil {
			t.Fatalf("30 days under a 30-day cap: %v", err)
		}
		def, err := store.Keys.Default(t.Context(), p.ID)
		if err != nil || def.ExpiresAt != nil {
			t.Fatalf("default key must stay exempt: %+v, %v", def, err)
		}
	})
}

// A roll keeps the identifier; both secrets work until the overlap ends,
// the old one not at its end; rolling twice destroys the first old secret;
// the key count is unchanged; UI tokens signed with either secret work
// during the overlap and only the new one's after.
func TestRollOverlapEndRollingTwiceAndJWTs(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		now := fixedClock(store, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		f := newAPIKeyFixture(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		before, _ := store.Keys.Count(t.Context(), f.program.ID)

		rolled, err := store.Keys.Roll(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if rolled.Identifier != f.key.Identifier || rolled.Secret == "" || rolled.Secret == f.secret {
			t.Fatalf("roll: %+v", rolled)
		}
		for name, secret := range map[string]string{"old": f.secret, "new": rolled.Secret} {
			if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, secret); err != nil {
				t.Fatalf("%s secret during the overlap: %v", name, err)
			}
		}
		sign := func(secret string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": f.key.Identifier, "member_id": "m-1", "exp": now.Add(30 * time.Minute).Unix()}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		for name, secret := range map[string]string{"old": f.secret, "new": rolled.Secret} {
			if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(secret)); err != nil {
				t.Fatalf("JWT signed with the %s secret during the overlap: %v", name, err)
			}
		}
		*now = now.Add(time.Hour)
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); !errors.Is(err, apiauth.ErrExpired) {
			t.Fatalf("old secret at the overlap end: %v", err)
		}
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(f.secret)); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("JWT with the old secret after the overlap: %v", err)
		}
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(rolled.Secret)); err != nil {
			t.Fatalf("JWT with the new secret after the overlap: %v", err)
		}
		if n, err := store.Keys.DestroyEndedOverlaps(t.Context()); err != nil || n != 1 {
			t.Fatalf("destroyed %d, %v", n, err)
		}
		v.WaitPending()
		// Destroyed, its digest is remembered as retired: the call is
		// refused as an expired old secret of the key, to count it so.
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); !errors.Is(err, apiauth.ErrExpired) ||
			!apiauth.FailureOf(err).OldSecret || apiauth.FailureOf(err).KeyID != f.key.ID {
			t.Fatalf("destroyed old secret: %v %+v", err, apiauth.FailureOf(err))
		}

		// Rolling twice: the second roll's old secret is the first's new
		// one; the first old secret stays dead.
		second, err := store.Keys.Roll(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		third, err := store.Keys.Roll(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, rolled.Secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("a secret two rolls back: %v", err)
		}
		for name, s := range map[string]string{"second": second.Secret, "third": third.Secret} {
			if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, s); err != nil {
				t.Fatalf("%s secret: %v", name, err)
			}
		}
		// The key is cached with its old secret (a UI token's sub leads to
		// the current digest's entry): Expire old key now must drop that
		// entry too, not only the old digest's.
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(second.Secret)); err != nil {
			t.Fatalf("JWT with the old secret during the second overlap: %v", err)
		}
		if _, err := store.Keys.ExpireOldKey(t.Context(), f.program.ID, audit.Actor{}, f.key.ID); err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, second.Secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("old secret after Expire old key now: %v", err)
		}
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(second.Secret)); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("JWT with the old secret after Expire old key now: %v", err)
		}
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, sign(third.Secret)); err != nil {
			t.Fatalf("JWT with the new secret after Expire old key now: %v", err)
		}
		if after, _ := store.Keys.Count(t.Context(), f.program.ID); after != before {
			t.Fatalf("rolls changed the key count %d → %d", before, after)
		}
	})
}

// An announcement that names only a roll's old digest (what keydesk
// announced before the current digest was added, so an older instance in
// a rolling deploy still does) ends the old secret for UI tokens too,
// although the entry that carries the old sealed secret is cached under
// the current digest.
func TestAnnouncingTheOldDigestEndsOldSecretTokens(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		now := fixedClock(store, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		f := newAPIKeyFixture(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		rolled, err := store.Keys.Roll(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		sign := func(secret string) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": f.key.Identifier, "member_id": "m-1", "exp": now.Add(30 * time.Minute).Unix()}).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		oldToken, newToken := sign(f.secret), sign(rolled.Secret)
		verifyOld := func() error {
			_, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, oldToken)
			return err
		}
		if database.IsPostgresURL(db.URL) {
			// Let the roll's own notices arrive first (they would drop the
			// entries the test needs cached): notices come in commit order,
			// so once a later flush has dropped another key's entry (which
			// the roll's notices leave alone), they are done.
			sentinel := newAPIKeyFixture(t, store, "Sentinel")
			if _, err := v.VerifyAPIKey(t.Context(), sentinel.program.PartnerID, sentinel.secret); err != nil {
				t.Fatal(err)
			}
			if err := store.DB.Exec(`SELECT pg_notify(?, 'flush')`, apiauth.RevocationChannel).Error; err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(time.Second); ; time.Sleep(5 * time.Millisecond) {
				if positive, _ := v.CacheSize(); positive == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the flush notice did not arrive within a second")
				}
			}
		}
		if err := verifyOld(); err != nil {
			t.Fatalf("JWT with the old secret during the overlap: %v", err)
		}
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
			t.Fatalf("old secret during the overlap: %v", err)
		}
		// The old secret destroyed behind the store's back, announced by
		// its digest alone.
		if err := store.DB.Exec(`UPDATE api_keys SET old_digest = NULL, old_sealed = NULL, old_key_version = 0, old_expires_at = NULL WHERE id = ?`, f.key.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := verifyOld(); err != nil {
			t.Fatal("not served from the cache; the test would prove nothing")
		}
		oldDigest := keys.DigestOf(f.secret)
		if database.IsPostgresURL(db.URL) {
			if err := store.DB.Exec(`SELECT pg_notify(?, ?)`, apiauth.RevocationChannel, hex.EncodeToString(oldDigest[:])).Error; err != nil {
				t.Fatal(err)
			}
			waitRefused(t, verifyOld)
		} else {
			v.InvalidateHex(hex.EncodeToString(oldDigest[:]))
		}
		if err := verifyOld(); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("JWT with the old secret after its digest was announced: %v", err)
		}
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("old secret after its digest was announced: %v", err)
		}
		if _, _, err := v.VerifyUIToken(t.Context(), f.program.PartnerID, newToken); err != nil {
			t.Fatalf("JWT with the new secret: %v", err)
		}
		if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, rolled.Secret); err != nil {
			t.Fatalf("new secret: %v", err)
		}
	})
}

// The 20-key limit counts rows: rolling a program's twentieth key works
// and generating a twenty-first still does not.
func TestRollsLeaveTheKeyLimitAlone(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		p, err := store.Keys.CreateProgram(t.Context(), audit.Actor{}, "Full")
		if err != nil {
			t.Fatal(err)
		}
		var last *keys.APIKey
		for i := range keys.MaxAPIKeysPerProgram {
			last, err = store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "Key " + string(rune('A'+i))})
			if err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if _, err := store.Keys.Roll(t.Context(), p.ID, audit.Actor{}, last.ID, time.Hour); err != nil {
				t.Fatalf("roll at the limit: %v", err)
			}
		}
		if _, err := store.Keys.Generate(t.Context(), p.ID, audit.Actor{}, keys.KeyInput{Name: "One more"}); !errors.Is(err, keys.ErrKeyLimitReached) {
			t.Fatalf("21st key: %v", err)
		}
	})
}

// A roll racing an inactivation: whichever commits first, the key ends up
// inactive and no secret of it authenticates on any cache.
func TestRollRacingAnInactivation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		for round := range 5 {
			f := newAPIKeyFixture(t, store, "Race "+string(rune('A'+round)))
			v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
			if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var rolled *keys.APIKey
			var rollErr, offErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				rolled, rollErr = store.Keys.Roll(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, time.Hour)
			}()
			go func() {
				defer wg.Done()
				_, offErr = store.Keys.SetActive(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, false)
			}()
			wg.Wait()
			if offErr != nil {
				t.Fatal(offErr)
			}
			secrets := []string{f.secret}
			if rollErr == nil {
				secrets = append(secrets, rolled.Secret)
			} else if !errors.Is(rollErr, keys.ErrKeyInactive) {
				t.Fatal(rollErr)
			}
			v.WaitPending()
			waitFor(t, func() bool {
				for _, s := range secrets {
					if _, err := v.VerifyAPIKey(t.Context(), f.program.PartnerID, s); err == nil {
						return false
					}
				}
				return true
			})
		}
	})
}

// waitFor polls cond for up to two seconds (a NOTIFY arrives
// asynchronously on PostgreSQL).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 2s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Permissions and allowed addresses are decided from the cached entry and
// named in the error.
func TestPermissionsAndAllowedAddresses(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		store := modeltest.NewStores(t, db)
		f := newAPIKeyFixture(t, store, "Demo")
		v := newVerifier(t, store, db, apiauth.DefaultVerifierOptions())
		_, err := store.Keys.Update(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, keys.KeyInput{Name: "Integration",
			Access: &keys.AccessInput{Restricted: true, Permissions: []string{"members:read"}, AllowedIPs: "203.0.113.7\n2001:db8::/32"}})
		if err != nil {
			t.Fatal(err)
		}
		v.WaitPending()
		var k *apiauth.VerifiedKey
		waitFor(t, func() bool {
			k, err = v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
			return err == nil && k.Restricted
		})
		if err := k.Permit(keys.PermMembersRead); err != nil {
			t.Fatalf("members:read: %v", err)
		}
		var ferr *apiauth.ForbiddenError
		if err := k.Permit(keys.PermMembersWrite); !errors.As(err, &ferr) || ferr.Permission != keys.PermMembersWrite || !errors.Is(err, apiauth.ErrForbidden) {
			t.Fatalf("members:write: %v", err)
		}
		for addr, ok := range map[string]bool{"203.0.113.7": true, "203.0.113.8": false, "2001:db8::1": true, "2001:db9::1": false, "::ffff:203.0.113.7": true, "junk": false} {
			if err := k.PermitAddress(addr); (err == nil) != ok {
				t.Errorf("address %s: %v", addr, err)
			}
		}
		// Bad input is refused with a message and changes nothing.
		for _, bad := range []string{"203.0.113.300", "10.0.0.1/33", "10.0.0.1/8", "example.com"} {
			_, err := store.Keys.Update(t.Context(), f.program.ID, audit.Actor{}, f.key.ID, keys.KeyInput{Name: "Integration", Access: &keys.AccessInput{AllowedIPs: bad}})
			var verr input.ValidationError
			if !errors.As(err, &verr) || verr["allowed_ips"] == "" {
				t.Errorf("%q: %v", bad, err)
			}
		}
		got, _ := store.Keys.ByID(t.Context(), f.program.ID, f.key.ID)
		if got.AllowedIPs != "203.0.113.7\n2001:db8::/32" || got.Permissions != "members:read" {
			t.Fatalf("refused input changed the key: %q %q", got.AllowedIPs, got.Permissions)
		}
	})
}
