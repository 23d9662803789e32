package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	keydeskconfig "keydesk/config"
	"keydesk/models"
	"keydesk/web"
)

// profileScenario1 is the -profile mode: the same server (web.New, as
// `keydesk serve` builds it, request log to a file) runs inside this
// process so that scenario 1's two loads can be CPU-profiled (with Redis
// shared limits and quotas, as scenario 8, when KEYDESK_REDIS_URL or
// TEST_REDIS_URL names one). The load
// generator shares the profile; read it focused on the server, e.g.
//
//	go tool pprof -top -focus 'net/http.\(\*conn\).serve' DIR/auth.pprof
func (b *bench) profileScenario1(ctx context.Context, dir string, store *models.Stores, masterKey []byte) error {
	logFile, err := os.Create(filepath.Join(b.dir, "inproc.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cfg := keydeskconfig.Default(masterKey)
	cfg.Addr, cfg.DatabaseURL = "127.0.0.1:0", b.dbURL
	cfg.Events.Webhooks.AllowPrivate = true // as the bench's servers, and its store
	cfg.API.RedisURL = redisURL()           // scenario 8's setup when Redis is named
	srv, err := web.New(cfg, store, slog.New(slog.NewTextHandler(logFile, nil)))
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.Echo, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(l) }()
	defer hs.Shutdown(context.Background())
	base := "http://" + l.Addr().String()

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	called, _ := b.seed.loadKeys()
	healthz, auth := staticGet(base+"/healthz"), keyTargets(base, called)
	attack(everyKeyOnce(base, b.seed.keys), b.cfg.conns, time.Minute, "warmup-keys")
	attack(healthz, b.cfg.conns, b.cfg.warmup, "warmup")
	attack(auth, b.cfg.conns, b.cfg.warmup, "warmup")
	for _, p := range []struct {
		name string
		tr   vegeta.Targeter
	}{{"healthz", healthz}, {"auth", auth}} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		path := filepath.Join(dir, p.name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		m := attack(p.tr, b.cfg.conns, b.cfg.duration, p.name)
		pprof.StopCPUProfile()
		f.Close()
		if m.Requests == 0 {
			return errors.New("no request completed")
		}
		fmt.Printf("%-8s %6.0f req/s  p50 %s  p99 %s  (%s)  profile: %s\n", p.name, m.Throughput, ms(m.Latencies.P50), ms(m.Latencies.P99), statuses(m), path)
	}
	fmt.Printf("\nread with: go tool pprof -top -focus 'net/http.\\(\\*conn\\).serve' %s\n", filepath.Join(dir, "auth.pprof"))
	return nil
}
