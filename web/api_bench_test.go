package web_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// BenchmarkAPIOverhead measures the server's own work per request, without
// a network or a load generator: GET /healthz (no authentication) against
// the authenticated GET /v2/loyalty/program with a restricted, allowlisted
// key from the cache (2000 keys in turn), through the real router and every middleware. The
// ratio of their ns/op is the share of scenario 1's gap that the server
// itself causes (make bench measures the whole of it).
//
//	go test -run '^$' -bench BenchmarkAPIOverhead -benchmem ./web/
func BenchmarkAPIOverhead(b *testing.B) {
	const benchPrograms = 100
	db := modeltest.SQLite(b)
	store := modeltest.NewStores(b, db)
	cfg := config.Default(modeltest.MasterKey)
	cfg.DatabaseURL = db.URL
	cfg.API.ReadPerMinute = 1 << 30 // a budget the benchmark cannot spend: the limiter still runs
	// The request log is formatted as in production, then dropped.
	srv, err := web.New(cfg, store.Stores, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	// Calls rotate over many keys, as the bench's do, so per-key state
	// (cache entries, buckets, counters) is not always in the CPU's cache.
	ctx := b.Context()
	type benchKey struct{ partnerID, secret string }
	var calls, quotaCalls []benchKey
	for i := range benchPrograms {
		p, err := store.Keys.CreateProgram(ctx, audit.Actor{}, fmt.Sprintf("Bench %03d", i))
		if err != nil {
			b.Fatal(err)
		}
		for j := range keys.MaxAPIKeysPerProgram {
			// Every other program's keys have a quota (never reached),
			// so that "program-quota" spends one on every call.
			in := keys.KeyInput{Name: fmt.Sprintf("Bench %02d", j), Access: &benchAccess}
			if i%2 == 1 {
				in.Limits = &benchQuota
			}
			k, err := store.Keys.Generate(ctx, p.ID, audit.Actor{}, in)
			if err != nil {
				b.Fatal(err)
			}
			secret, err := store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
			if err != nil {
				b.Fatal(err)
			}
			if in.Limits != nil {
				quotaCalls = append(quotaCalls, benchKey{p.PartnerID, secret})
			} else {
				calls = append(calls, benchKey{p.PartnerID, secret})
			}
		}
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
	var next atomic.Int64
	call := func(from []benchKey) *http.Request {
		k := from[(next.Add(1)-1)%int64(len(from))]
		r := httptest.NewRequest(http.MethodGet, "/v2/loyalty/program", nil) // from 192.0.2.1
		r.Header.Set("partner-id", k.partnerID)
		r.Header.Set("api-key", k.secret)
		return r
	}
	program := func() *http.Request { return call(calls) }
	programWithQuota := func() *http.Request { return call(quotaCalls) }
	for range calls {
		serve(b, program()) // into the verification cache
		serve(b, programWithQuota())
	}
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
	b.Run("program-quota", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, programWithQuota())
		}
	})
	// The same on every core at once: shared state (locks, maps,
	// counters) costs more when cores contend for it, as under load.
	b.Run("healthz-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, healthz())
			}
		})
	})
	b.Run("program-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, program())
			}
		})
	})
	b.Run("program-quota-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, programWithQuota())
			}
		})
	})
}

// benchQuota is a daily quota the benchmark never reaches.
var benchQuota = keys.LimitsInput{Quota: 1_000_000_000, QuotaPeriod: keys.QuotaPeriodDay}

// benchAccess is every benchmark key's access: restricted, allowlisted.
var benchAccess = keys.AccessInput{Restricted: true,
	Permissions: []string{string(keys.PermProgramRead), string(keys.PermMembersRead)}, AllowedIPs: "192.0.2.0/24\n::1"}
