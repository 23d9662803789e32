package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/managementkeys"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// BenchmarkManageAPI measures one management call through the real router
// and every middleware: GET /v2/manage/keys of a program with 20 keys,
// the management key verified from the cache, beside BenchmarkAPIOverhead.
//
//	go test -run '^$' -bench BenchmarkManageAPI -benchmem ./web/
func BenchmarkManageAPI(b *testing.B) {
	db := modeltest.SQLite(b)
	store := modeltest.NewStores(b, db)
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	cfg.API.ManagePerMinute = 0 // the limiter still runs, unlimited
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	ctx := b.Context()
	p, err := store.Keys.CreateProgram(ctx, audit.Actor{}, "Bench")
	if err != nil {
		b.Fatal(err)
	}
	for j := range keys.MaxAPIKeysPerProgram {
		if _, err := store.Keys.Generate(ctx, p.ID, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("Bench %02d", j)}); err != nil {
			b.Fatal(err)
		}
	}
	mk, err := store.ManagementKeys.Create(ctx, p.ID, audit.Actor{}, managementkeys.Input{Name: "Bench", Scopes: []string{string(managementkeys.ScopeKeysRead)}})
	if err != nil {
		b.Fatal(err)
	}
	serve := func(b *testing.B, path string) {
		b.Helper()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+mk.Secret)
		w := httptest.NewRecorder()
		srv.Echo.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	serve(b, "/v2/manage/keys") // into the verification cache
	b.Run("list-keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, "/v2/manage/keys")
		}
	})
}
