package web_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// BenchmarkAPIOverhead measures the server's own work per request, without
// a network or a load generator: GET /healthz (no authentication) against
// the authenticated GET /v2/loyalty/program with a restricted, allowlisted
// key from the cache, through the real router and every middleware. The
// ratio of their ns/op is the share of scenario 1's gap that the server
// itself causes (make bench measures the whole of it).
//
//	go test -run '^$' -bench BenchmarkAPIOverhead -benchmem ./web/
func BenchmarkAPIOverhead(b *testing.B) {
	db := modeltest.SQLite(b)
	store := modeltest.NewStores(b, db)
	cfg := web.DefaultConfig(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	cfg.API.ReadPerMinute = 1 << 30 // a budget the benchmark cannot spend: the limiter still runs
	// The request log is formatted as in production, then dropped.
	srv := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	demo := modeltest.Seed(b, store, "Demo Store")
	ctx := b.Context()
	pid := demo.Program.ID
	k, err := store.Keys.Generate(ctx, pid, audit.Actor{}, keys.KeyInput{Name: "Bench",
		Access: &keys.AccessInput{Restricted: true, Permissions: []string{string(keys.PermProgramRead), string(keys.PermMembersRead)}, AllowedIPs: "192.0.2.0/24\n::1"}})
	if err != nil {
		b.Fatal(err)
	}
	secret, err := store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
	if err != nil {
		b.Fatal(err)
	}
	serve := func(b *testing.B, req *http.Request) {
		b.Helper()
		w := httptest.NewRecorder()
		srv.Echo.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%s: %d %s", req.URL.Path, w.Code, w.Body)
		}
	}
	healthz := func() *http.Request { return httptest.NewRequest(http.MethodGet, "/healthz", nil) }
	program := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/v2/loyalty/program", nil) // from 192.0.2.1
		r.Header.Set("partner-id", demo.Program.PartnerID)
		r.Header.Set("api-key", secret)
		return r
	}
	serve(b, program()) // into the verification cache
	b.Run("healthz", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, healthz())
		}
	})
	b.Run("program", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, program())
		}
	})
}
