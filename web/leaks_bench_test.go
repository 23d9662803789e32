package web_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	"keydesk/config"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// BenchmarkLeakAlertToRefusedEverywhere measures, per signed GitHub alert
// naming one live key, the time from the alert's arrival to the key being
// refused by every instance: two servers on PostgreSQL when
// TEST_DATABASE_URL is set (the second had the key cached), one on SQLite
// otherwise. It reports p50 and p99 (target p99 < 1 s).
//
//	TEST_DATABASE_URL=postgres://… go test -run '^$' -bench BenchmarkLeakAlertToRefusedEverywhere -benchtime 200x ./web/
func BenchmarkLeakAlertToRefusedEverywhere(b *testing.B) {
	db := modeltest.SQLite(b)
	if os.Getenv("TEST_DATABASE_URL") != "" {
		db = modeltest.Postgres(b)
	}
	doc := newKeyDocument(b)
	github := newSigningKey(b, "github-1")
	doc.set(b, map[signingKey]bool{github: true})
	// The polls' 401s must not spend the failed-authentication budget.
	noFailedAuthLimit := func(c *config.Options) { c.API.FailedAuthPerMinute = 0 }
	a := newTestServer(b, db, withKeyDocument(doc), noFailedAuthLimit)
	instances := []string{a.URL}
	if db.Name == "postgres" {
		instances = append(instances, newTestServer(b, db, noFailedAuthLimit).URL)
	}
	status := func(url, partnerID, secret string) int {
		req, _ := http.NewRequest(http.MethodGet, url+"/v2/loyalty/program", nil)
		req.Header.Set("partner-id", partnerID)
		req.Header.Set("api-key", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var took []time.Duration
	var programID int64
	var partnerID string
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		if i%keys.MaxAPIKeysPerProgram == 0 {
			p, err := a.Store.Keys.CreateProgram(b.Context(), audit.Actor{}, fmt.Sprintf("Bench %d", i))
			if err != nil {
				b.Fatal(err)
			}
			programID, partnerID = p.ID, p.PartnerID
		}
		k, err := a.Store.Keys.Generate(b.Context(), programID, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("Leak %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		secret, err := a.Store.Keys.Keyring().Open(k.ID, k.Sealed, k.KeyVersion)
		if err != nil {
			b.Fatal(err)
		}
		for _, url := range instances { // cached everywhere
			if s := status(url, partnerID, secret); s != http.StatusOK {
				b.Fatalf("before the alert: %d", s)
			}
		}
		body := alertBody(b, secret)
		signature := github.sign(b, body)
		b.StartTimer()
		start := time.Now()
		if s, raw := postAlert(b, a.URL, body, github.id, signature); s != http.StatusOK {
			b.Fatalf("alert: %d %s", s, raw)
		}
		for _, url := range instances {
			for status(url, partnerID, secret) != http.StatusUnauthorized {
				if time.Since(start) > 5*time.Second {
					b.Fatal("the leaked key still works after 5 s")
				}
			}
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(len(instances)), "instances")
}

// BenchmarkLeakAlertFalsePositives measures a signed alert of 100 tokens
// that all fail the checksum (a scanner's look-alikes): answered without
// any database statement on api_keys (reported as lookups/op).
//
//	go test -run '^$' -bench BenchmarkLeakAlertFalsePositives -benchmem ./web/
func BenchmarkLeakAlertFalsePositives(b *testing.B) {
	db := modeltest.SQLite(b)
	if os.Getenv("TEST_DATABASE_URL") != "" {
		db = modeltest.Postgres(b)
	}
	doc := newKeyDocument(b)
	github := newSigningKey(b, "github-1")
	doc.set(b, map[signingKey]bool{github: true})
	a := newTestServer(b, db, withKeyDocument(doc))
	tokens := make([]string, 100)
	for i := range tokens {
		tokens[i] = brokenChecksum(keys.NewAPIKeyString())
	}
	body := alertBody(b, tokens...)
	signature := github.sign(b, body)
	var lookups atomic.Int64
	count := func(tx *gorm.DB) {
		if strings.Contains(tx.Statement.SQL.String(), "api_keys") {
			lookups.Add(1)
		}
	}
	if err := a.Store.DB.Callback().Raw().After("gorm:raw").Register("bench:count_lookups_raw", count); err != nil {
		b.Fatal(err)
	}
	if err := a.Store.DB.Callback().Row().After("gorm:row").Register("bench:count_lookups_row", count); err != nil {
		b.Fatal(err)
	}
	postAlert(b, a.URL, body, github.id, signature) // fetches the key document
	lookups.Store(0)
	for b.Loop() {
		if s, raw := postAlert(b, a.URL, body, github.id, signature); s != http.StatusOK {
			b.Fatalf("alert: %d %s", s, raw)
		}
	}
	b.ReportMetric(float64(lookups.Load())/float64(b.N), "lookups/op")
}
