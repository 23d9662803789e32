package apiauth_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/models/apiauth"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// refreshFixture is a verifier on a clock the test moves, over two keys.
type refreshFixture struct {
	store  *modeltest.Stores
	v      *apiauth.Verifier
	now    time.Time
	a, b   apiKeyFixture
	ttl    time.Duration
	verify func(f apiKeyFixture) (*apiauth.VerifiedKey, error)
}

func newRefreshFixture(t *testing.T, db modeltest.Database) *refreshFixture {
	t.Helper()
	store := modeltest.NewStores(t, db)
	rf := &refreshFixture{store: store, now: time.Now(), ttl: 30 * time.Second}
	store.SetClock(func() time.Time { return rf.now })
	rf.a, rf.b = newAPIKeyFixture(t, store, "Alpha"), newAPIKeyFixture(t, store, "Beta")
	rf.v = newVerifier(t, store, db, apiauth.VerifierOptions{TTL: rf.ttl})
	rf.verify = func(f apiKeyFixture) (*apiauth.VerifiedKey, error) {
		return rf.v.VerifyAPIKey(t.Context(), f.program.PartnerID, f.secret)
	}
	return rf
}

func (rf *refreshFixture) rename(t *testing.T, f apiKeyFixture, name string) {
	t.Helper()
	// Behind the store's back: no invalidation, as if a notice were lost.
	if err := rf.store.DB.Exec(`UPDATE api_keys SET name = ? WHERE id = ?`, name, f.key.ID).Error; err != nil {
		t.Fatal(err)
	}
}

// TestRefreshKeepsKeysInUseCachedAndReadsThemAgain: a key in use is read
// again in one batched query before its entry expires, so no call waits
// for the database; what the database says then (a new name, an
// inactivation nobody announced) is what the next calls see. A key not
// used since its load is not refreshed.
func TestRefreshKeepsKeysInUseCachedAndReadsThemAgain(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		rf := newRefreshFixture(t, db)
		for _, f := range []apiKeyFixture{rf.a, rf.b} {
			if _, err := rf.verify(f); err != nil { // loaded
				t.Fatal(err)
			}
		}
		queries := countQueries(t, rf.store.DB)
		rf.now = rf.now.Add(rf.ttl / 4)
		if err := rf.v.Refresh(t.Context()); err != nil || queries.Load() != 0 {
			t.Fatalf("refresh of fresh entries: %d queries, %v", queries.Load(), err)
		}
		if _, err := rf.verify(rf.a); err != nil { // a is in use; b is not
			t.Fatal(err)
		}
		rf.rename(t, rf.a, "Renamed")
		rf.rename(t, rf.b, "Renamed too")
		queries.Store(0)
		rf.now = rf.now.Add(rf.ttl / 2)
		if err := rf.v.Refresh(t.Context()); err != nil || queries.Load() != 1 {
			t.Fatalf("refresh: %d queries, %v; want 1", queries.Load(), err)
		}
		// Past the first load's TTL: a answers from the refreshed entry.
		queries.Store(0)
		rf.now = rf.now.Add(rf.ttl / 2)
		k, err := rf.verify(rf.a)
		if err != nil || k.Name != "Renamed" || queries.Load() != 0 {
			t.Fatalf("after the refresh: %+v, %v, %d queries", k, err, queries.Load())
		}
		// b was not refreshed: its entry expired, and it loads on demand.
		if k, err := rf.verify(rf.b); err != nil || k.Name != "Renamed too" || queries.Load() != 1 {
			t.Fatalf("unused key: %+v, %v, %d queries", k, err, queries.Load())
		}
		// An inactivation nobody announced ends at the next refresh.
		if err := rf.store.DB.Exec(`UPDATE api_keys SET active = FALSE WHERE id = ?`, rf.a.key.ID).Error; err != nil {
			t.Fatal(err)
		}
		rf.now = rf.now.Add(rf.ttl*3/4 - time.Second)
		if err := rf.v.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := rf.verify(rf.a); !errors.Is(err, apiauth.ErrUnauthorized) {
			t.Fatalf("a key inactivated behind the cache's back: err = %v after a refresh", err)
		}
	})
}

// TestRefreshReadBeforeAnInvalidationIsDropped: a refresh whose query ran
// while any key was invalidated caches nothing, as a load would not; its
// keys keep their entries until they expire.
func TestRefreshReadBeforeAnInvalidationIsDropped(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		rf := newRefreshFixture(t, db)
		if _, err := rf.verify(rf.a); err != nil {
			t.Fatal(err)
		}
		if _, err := rf.verify(rf.a); err != nil { // in use
			t.Fatal(err)
		}
		rf.rename(t, rf.a, "Renamed")
		// The refresh's query is racing an invalidation of another key.
		invalidateDuringRefresh := func(tx *gorm.DB) {
			if strings.Contains(tx.Statement.SQL.String(), " IN ") {
				rf.v.Invalidate(keys.KeyDigest(rf.b.secret))
			}
		}
		if err := rf.store.DB.Callback().Row().Before("gorm:row").Register("test:invalidate", invalidateDuringRefresh); err != nil {
			t.Fatal(err)
		}
		rf.now = rf.now.Add(rf.ttl * 3 / 4)
		if err := rf.v.Refresh(t.Context()); err != nil {
			t.Fatal(err)
		}
		if k, err := rf.verify(rf.a); err != nil || k.Name != "Integration" {
			t.Fatalf("the dropped refresh was cached: %+v, %v", k, err)
		}
		rf.now = rf.now.Add(rf.ttl / 4)
		if k, err := rf.verify(rf.a); err != nil || k.Name != "Renamed" {
			t.Fatalf("after the TTL: %+v, %v", k, err)
		}
	})
}
