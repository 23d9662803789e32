package apiauth_test

import (
	"testing"
	"time"

	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/modeltest"
)

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
