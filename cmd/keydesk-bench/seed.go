package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"keydesk/models/database"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"keydesk/models"
	"keydesk/models/accounts"
	"keydesk/models/audit"
	"keydesk/models/keys"
)

// benchKey is a seeded API key with its plaintext (unsealed for the load).
type benchKey struct {
	ID        int64
	PartnerID string
	Secret    string
	// Quota: the key has benchLimits's quota.
	Quota bool
}

// seeded is what the load needs from the seeded database.
type seeded struct {
	// keys are every generated key of every program, program by program.
	keys []benchKey
	// console is the program whose admin signs in: its keys drive the
	// console and revocation scenarios.
	console     *accounts.Program
	consoleKeys []benchKey
	adminEmail  string
	adminPass   string
	took        time.Duration
}

const benchPassword = "bench correct horse battery staple"

// freshPostgresSchema creates an empty schema in the database that base
// names and returns a URL whose search_path selects it, so every run
// starts from the same empty state; drop removes it.
func freshPostgresSchema(base string) (schemaURL string, drop func() error, err error) {
	db, err := database.Open(base)
	if err != nil {
		return "", nil, err
	}
	suffix := make([]byte, 5)
	_, _ = rand.Read(suffix)
	schema := "bench_" + hex.EncodeToString(suffix)
	if err := db.Exec("CREATE SCHEMA " + schema).Error; err != nil {
		return "", nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() error {
		defer closeDB(db)
		return db.Exec("DROP SCHEMA " + schema + " CASCADE").Error
	}
	return u.String(), drop, nil
}

func closeDB(db *gorm.DB) {
	if sqlDB, err := db.DB(); err == nil {
		_ = sqlDB.Close()
	}
}

// seed creates programs × keysPerProgram API keys through the store (the
// same code path as the console, audit events included), each restricted
// and allowlisted, those of every other program (the first included) with
// a quota (benchLimits, unless it is zero), and one full-access admin of
// the first program.
func seed(store *models.Stores, programs, keysPerProgram, workers int) (*seeded, error) {
	ctx := context.Background()
	start := time.Now()
	actor := audit.Actor{Email: "keydesk-bench", UserAgent: "keydesk-bench"}
	out := &seeded{keys: make([]benchKey, programs*keysPerProgram)}
	progs := make([]*accounts.Program, programs)

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= programs {
					return
				}
				p, err := store.Keys.CreateProgram(ctx, actor, fmt.Sprintf("Bench Store %03d", i))
				if err != nil {
					errs <- err
					return
				}
				progs[i] = p
				withQuota := benchLimits.Quota > 0 && i%2 == 0
				var limits *keys.LimitsInput // nil: none
				if withQuota {
					limits = &benchLimits
				}
				for j := range keysPerProgram {
					k, err := store.Keys.Generate(ctx, p.ID, actor, keys.KeyInput{
						Name:        fmt.Sprintf("Integration %02d", j),
						Description: "Seeded by keydesk-bench",
					})
					if err != nil {
						errs <- fmt.Errorf("program %d key %d: %w", i, j, err)
						return
					}
					// Every key restricted and allowlisted, so scenario 1
					// measures the permission and address checks too.
					k, err = store.Keys.Update(ctx, p.ID, actor, k.ID, keys.KeyInput{
						Name:        k.Name,
						Description: k.Description,
						Access:      &benchAccess,
						Limits:      limits,
					})
					if err != nil {
						errs <- fmt.Errorf("program %d key %d: restrict: %w", i, j, err)
						return
					}
					secret, err := store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
					if err != nil {
						errs <- err
						return
					}
					out.keys[i*keysPerProgram+j] = benchKey{ID: k.ID, PartnerID: p.PartnerID, Secret: secret, Quota: withQuota}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}

	out.console = progs[0]
	out.consoleKeys = out.keys[:keysPerProgram]
	out.adminEmail = "bench-admin@keydesk.test"
	out.adminPass = benchPassword
	if _, err := store.Accounts.CreateAdmin(ctx, actor, progs[0].ID, out.adminEmail, out.adminPass, accounts.AccessFull, nil); err != nil {
		return nil, fmt.Errorf("seed admin: %w", err)
	}
	out.took = time.Since(start)
	return out, nil
}

// loadKeys are the keys scenarios 1 and 8 call with: those with a quota
// when the run has quotas (issue 25: with a quota on every key called,
// authenticated/unauthenticated ≥ 0.90), and control, the keys without
// one, called in the same rounds so that the quota's own cost is measured
// side by side (nil when the run has no quotas: then every key is called).
func (s *seeded) loadKeys() (called, control []benchKey) {
	for _, k := range s.keys {
		if k.Quota {
			called = append(called, k)
		} else {
			control = append(control, k)
		}
	}
	if len(called) == 0 {
		return control, nil
	}
	return called, control
}

// benchLimits is the quota of every other program's keys: large enough
// never to be reached, so scenarios 1 and 8 measure spending it.
var benchLimits = keys.LimitsInput{Quota: 1_000_000_000, QuotaPeriod: keys.QuotaPeriodDay}

// benchAccess is every seeded key's access: restricted to what the bench
// calls, from loopback only.
var benchAccess = keys.AccessInput{
	Restricted:  true,
	Permissions: []string{string(keys.PermProgramRead), string(keys.PermMembersRead)},
	AllowedIPs:  "127.0.0.0/8\n::1",
}
