package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"keydesk/models/audit"
	"keydesk/models/keys"
)

// falsePositiveAlerts is how many 100-token false-positive alerts scenario
// 11 times.
const falsePositiveAlerts = 200

// scenarioLeak is scenario 12: a signed GitHub secret-scanning alert naming
// one live key, posted to one instance; the time from sending it until
// every instance (two on PostgreSQL, the second having the key cached)
// refuses the key. Then the cost of alerts of 100 look-alike tokens that
// fail the checksum (answered without a database lookup).
func (b *bench) scenarioLeak(ctx context.Context) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return err
	}
	doc, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": "bench", "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	docServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(doc) }))
	defer docServer.Close()
	// The polls' 401s must not spend the failed-authentication budget.
	env := []string{"KEYDESK_SECRET_SCANNING_KEYS_URL=" + docServer.URL, "KEYDESK_API_FAILED_AUTH_LIMIT=0"}
	receiver, err := startServer("server-leak-a", b.bin, b.dir, b.dbURL, b.masterKey, env...)
	if err != nil {
		return err
	}
	defer receiver.stop()
	instances := []*server{receiver}
	if b.pgStats != nil {
		other, err := startServer("server-leak-b", b.bin, b.dir, b.dbURL, b.masterKey, "KEYDESK_API_FAILED_AUTH_LIMIT=0")
		if err != nil {
			return err
		}
		defer other.stop()
		instances = append(instances, other)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	alert := func(tokens ...string) (time.Duration, error) {
		items := make([]map[string]string, len(tokens))
		for i, t := range tokens {
			items[i] = map[string]string{"token": t, "type": "keydesk_api_key", "url": "https://github.com/bench/leak/blob/main/.env", "source": "content"}
		}
		body, _ := json.Marshal(items)
		digest := sha256.Sum256(body)
		sig, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
		if err != nil {
			return 0, err
		}
		req, _ := http.NewRequest(http.MethodPost, receiver.base+"/v2/secret-scanning/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Github-Public-Key-Identifier", "bench")
		req.Header.Set("Github-Public-Key-Signature", base64.StdEncoding.EncodeToString(sig))
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("alert: %s", resp.Status)
		}
		return time.Since(start), nil
	}

	trials := b.cfg.trials
	var took []time.Duration
	var program int64
	var partnerID string
	for i := range trials {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i%keys.MaxAPIKeysPerProgram == 0 {
			p, err := b.store.Keys.CreateProgram(ctx, audit.Actor{}, fmt.Sprintf("Leak bench %d", i))
			if err != nil {
				return err
			}
			program, partnerID = p.ID, p.PartnerID
		}
		k, err := b.store.Keys.Generate(ctx, program, audit.Actor{}, keys.KeyInput{Name: fmt.Sprintf("Leaked %d", i)})
		if err != nil {
			return err
		}
		key := benchKey{ID: k.ID, PartnerID: partnerID, Secret: k.Secret}
		for _, s := range instances { // every instance has it cached
			if _, err := pollUntil(ctx, client, s.base, key, http.StatusOK); err != nil {
				return fmt.Errorf("trial %d: %s never accepted the key: %w", i, s.name, err)
			}
		}
		start := time.Now()
		if _, err := alert(key.Secret); err != nil {
			return fmt.Errorf("trial %d: %w", i, err)
		}
		for _, s := range instances {
			if _, err := pollUntil(ctx, client, s.base, key, http.StatusUnauthorized); err != nil {
				return fmt.Errorf("trial %d: %s kept accepting the leaked key: %w", i, s.name, err)
			}
		}
		took = append(took, time.Since(start))
	}
	s := sortDurations(took)
	p50, p99 := quantile(s, 0.50), quantile(s, 0.99)
	b.rep.add(row{
		scenario: fmt.Sprintf("11 leak alert -> refused on %d instance(s) (%d trials)", len(instances), len(s)),
		p50:      ms(p50),
		p99:      ms(p99),
		claim:    fmt.Sprintf("p99 %s (< %s), max %s", ms(p99), ms(targetLeakP99), ms(s[len(s)-1])),
		verdict:  verdict(p99 < targetLeakP99),
	})

	lookAlikes := make([]string, 100)
	for i := range lookAlikes {
		k := keys.NewAPIKeyString()
		last := byte('0')
		if k[len(k)-1] == '0' {
			last = '1'
		}
		lookAlikes[i] = k[:len(k)-1] + string(last)
	}
	var fp []time.Duration
	for range falsePositiveAlerts {
		d, err := alert(lookAlikes...)
		if err != nil {
			return err
		}
		fp = append(fp, d)
	}
	f := sortDurations(fp)
	b.rep.add(row{
		scenario: fmt.Sprintf("11 alert of 100 false positives (%d alerts)", len(f)),
		p50:      ms(quantile(f, 0.50)),
		p99:      ms(quantile(f, 0.99)),
		claim:    "checksum first: no database lookup (TestSecretScanningAlertLookups counts them)",
		verdict:  verdictInfo,
	})
	return nil
}
