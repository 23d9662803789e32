package web_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"gorm.io/gorm"

	"keydesk/config"
	"keydesk/models/apiauth"
	"keydesk/models/audit"
	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// signingKey is a generated P-256 key pair of the key document.
type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newSigningKey(t testing.TB, id string) signingKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{id: id, priv: priv}
}

// sign is the base64 ASN.1 signature of body, as GitHub sends it.
func (k signingKey) sign(t testing.TB, body []byte) string {
	t.Helper()
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// keyDocument serves GitHub's secret-scanning key document from httptest,
// counting fetches; its keys (and whether it fails) can change.
type keyDocument struct {
	*httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	entries []map[string]any
	failing bool
}

func newKeyDocument(t testing.TB) *keyDocument {
	d := &keyDocument{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		d.fetches.Add(1)
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.failing {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"public_keys": d.entries})
	}))
	t.Cleanup(d.Close)
	return d
}

// set replaces the document's keys: each with is_current as given.
func (d *keyDocument) set(t testing.TB, keys map[signingKey]bool) {
	t.Helper()
	var entries []map[string]any
	for k, current := range keys {
		der, err := x509.MarshalPKIXPublicKey(&k.priv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, map[string]any{"key_identifier": k.id, "is_current": current,
			"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))})
	}
	d.mu.Lock()
	d.entries, d.failing = entries, false
	d.mu.Unlock()
}

func (d *keyDocument) fail() {
	d.mu.Lock()
	d.failing = true
	d.mu.Unlock()
}

// withKeyDocument points KEYDESK_SECRET_SCANNING_KEYS_URL at d (a loopback
// server, so KEYDESK_WEBHOOK_ALLOW_PRIVATE is on, as an operator would set).
func withKeyDocument(d *keyDocument) serverOption {
	return func(c *config.Options) {
		c.SecretScanningKeysURL = d.URL
		c.Events.Webhooks.AllowPrivate = true
	}
}

type alertToken struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

type alertAnswer struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

func alertBody(t testing.TB, tokens ...string) []byte {
	t.Helper()
	items := make([]alertToken, len(tokens))
	for i, tok := range tokens {
		items[i] = alertToken{Token: tok, Type: "keydesk_api_key", URL: fmt.Sprintf("https://github.com/octo/repo/blob/main/f%d.env", i), Source: "content"}
	}
	b, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postAlert posts body to the partner endpoint with the given headers
// ("" leaves a header out).
func postAlert(t testing.TB, baseURL string, body []byte, keyID, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v2/secret-scanning/github", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if keyID != "" {
		req.Header.Set("Github-Public-Key-Identifier", keyID)
	}
	if signature != "" {
		req.Header.Set("Github-Public-Key-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sendAlert posts a signed alert and wants 200, returning the answers.
func sendAlert(t testing.TB, baseURL string, k signingKey, body []byte) []alertAnswer {
	t.Helper()
	status, raw := postAlert(t, baseURL, body, k.id, k.sign(t, body))
	if status != http.StatusOK {
		t.Fatalf("alert: %d %s", status, raw)
	}
	var answers []alertAnswer
	if err := json.Unmarshal([]byte(raw), &answers); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	return answers
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// brokenChecksum is a key whose last character is changed: the right
// shape, the wrong checksum.
func brokenChecksum(key string) string {
	last := key[len(key)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return key[:len(key)-1] + string(repl)
}

// managementToken is a checksum-valid kdm_ token (its random part that of
// a fresh API key, whose checksum covers only that part).
func managementToken() string {
	return keys.ManagementKeyPrefix + keys.NewAPIKeyString()[len(keys.KeyPrefix):]
}

// leakEvents are the program's api_key.leaked events.
func leakEvents(t *testing.T, ts *testServer, programID int64) []audit.Event {
	t.Helper()
	var events []audit.Event
	if err := ts.Store.DB.Where("program_id = ? AND action = ?", programID, audit.ActionKeyLeaked).Order("seq").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	return events
}

func outboxCount(t *testing.T, ts *testServer, programID int64, eventType string) int64 {
	t.Helper()
	var n int64
	if err := ts.Store.DB.Raw(`SELECT COUNT(*) FROM outbox_events WHERE program_id = ? AND event_type = ?`, programID, eventType).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// A signed alert: each token is answered in order with its hash, type and
// label; a true positive of a program set to inactivate is refused at
// once and audited (actor github_secret_scanning, url and source), one of a
// program set to Notify only keeps working but is marked Leaked; the same
// alert sent again changes and audits nothing; bad, missing or foreign
// signatures and malformed bodies change nothing.
func TestSecretScanningAlert(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		doc := newKeyDocument(t)
		github := newSigningKey(t, "github-1")
		doc.set(t, map[signingKey]bool{github: true})
		ts := newTestServer(t, db, withKeyDocument(doc))
		demo, other := ts.Demo.Program, ts.Other.Program
		shop, shopSecret := apiKey(t, ts, demo.ID, "Shop")
		_, otherSecret := apiKey(t, ts, other.ID, "Other shop")
		_, spareSecret := apiKey(t, ts, demo.ID, "Spare")
		if err := ts.Store.Keys.SetLeakResponse(t.Context(), other.ID, audit.Actor{}, keys.LeakNotifyOnly); err != nil {
			t.Fatal(err)
		}
		// Both keys are cached as valid before the alert.
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, shopSecret), ""); r.Status != 200 {
			t.Fatalf("before the alert: %d", r.Status)
		}
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(other.PartnerID, otherSecret), ""); r.Status != 200 {
			t.Fatalf("before the alert: %d", r.Status)
		}

		unknown, typo, mgmt := keys.NewAPIKeyString(), brokenChecksum(shopSecret), managementToken()
		tokens := []string{shopSecret, otherSecret, unknown, typo, mgmt, "not a key", shopSecret}
		body := alertBody(t, tokens...)

		// Refused alerts first: nothing may change.
		if status, raw := postAlert(t, ts.URL, body, "", ""); status != 401 {
			t.Fatalf("unsigned alert: %d %s", status, raw)
		}
		if status, _ := postAlert(t, ts.URL, body, github.id, ""); status != 401 {
			t.Fatalf("alert without signature: %d", status)
		}
		if status, _ := postAlert(t, ts.URL, body, "", github.sign(t, body)); status != 401 {
			t.Fatalf("alert without key identifier: %d", status)
		}
		if status, _ := postAlert(t, ts.URL, body, github.id, github.sign(t, append([]byte(" "), body...))); status != 401 {
			t.Fatalf("alert signed over another body: %d", status)
		}
		if status, _ := postAlert(t, ts.URL, body, github.id, "not base64!"); status != 401 {
			t.Fatalf("alert with a malformed signature: %d", status)
		}
		stranger := newSigningKey(t, github.id) // the right identifier, another key
		if status, _ := postAlert(t, ts.URL, body, github.id, stranger.sign(t, body)); status != 401 {
			t.Fatalf("alert signed by a stranger: %d", status)
		}
		for _, bad := range []string{``, `{}`, `[`, `null`, `[{"token": 1}]`, `[{"token": "x", "extra": true}]`, `[] []`} {
			if status, raw := postAlert(t, ts.URL, []byte(bad), github.id, github.sign(t, []byte(bad))); status != 400 {
				t.Fatalf("malformed alert %q: %d %s", bad, status, raw)
			}
		}
		if n := len(leakEvents(t, ts, demo.ID)); n != 0 {
			t.Fatalf("refused alerts audited %d leaks", n)
		}
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, shopSecret), ""); r.Status != 200 {
			t.Fatalf("a refused alert switched the key off: %d", r.Status)
		}

		answers := sendAlert(t, ts.URL, github, body)
		wantLabels := []string{"true_positive", "true_positive", "false_positive", "false_positive", "false_positive", "false_positive", "true_positive"}
		if len(answers) != len(tokens) {
			t.Fatalf("%d answers for %d tokens", len(answers), len(tokens))
		}
		for i, a := range answers {
			wantType := "keydesk_api_key"
			if tokens[i] == mgmt {
				wantType = "keydesk_management_key"
			}
			if a.TokenHash != tokenHash(tokens[i]) || a.TokenType != wantType || a.Label != wantLabels[i] {
				t.Errorf("answer %d: %+v, want hash %s, type %s, label %s", i, a, tokenHash(tokens[i]), wantType, wantLabels[i])
			}
		}

		// Inactivate it at once (the default): refused at once.
		assertUnauthorized(t, "leaked key", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, shopSecret), ""))
		// Notify only: still works, but marked.
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(other.PartnerID, otherSecret), ""); r.Status != 200 {
			t.Fatalf("Notify only switched the key off: %d", r.Status)
		}
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, spareSecret), ""); r.Status != 200 {
			t.Fatalf("a key not in the alert: %d", r.Status)
		}
		otherKeys, err := ts.Store.Keys.List(t.Context(), other.ID)
		if err != nil || len(otherKeys) != 1 || otherKeys[0].LeakedAt == nil || !otherKeys[0].Active || otherKeys[0].LeakedBy != keys.LeakReporterGitHub ||
			otherKeys[0].LeakedURL != "https://github.com/octo/repo/blob/main/f1.env" {
			t.Fatalf("Notify only key: %+v %v", otherKeys, err)
		}

		events := leakEvents(t, ts, demo.ID)
		if len(events) != 1 {
			t.Fatalf("%d api_key.leaked events for one key reported twice in one alert", len(events))
		}
		e := events[0]
		if e.ActorEmail != keys.LeakReporterGitHub || e.ActorID != 0 || e.TargetID != shop.Identifier ||
			!strings.Contains(e.Details, "https://github.com/octo/repo/blob/main/f0.env") || !strings.Contains(e.Details, `"source":"content"`) ||
			!strings.Contains(e.Details, "inactivated") || strings.Contains(e.Details, shopSecret) {
			t.Fatalf("audit event: %+v", e)
		}
		if n := len(leakEvents(t, ts, other.ID)); n != 1 {
			t.Fatalf("Notify only: %d events", n)
		}
		if outboxCount(t, ts, demo.ID, "api_key.leaked") != 1 || outboxCount(t, ts, other.ID, "api_key.leaked") != 1 {
			t.Fatal("api_key.leaked webhook events not enqueued once per key")
		}

		// The same alert again (GitHub retries): the same answer, nothing new.
		again := sendAlert(t, ts.URL, github, body)
		for i := range again {
			if again[i] != answers[i] {
				t.Fatalf("replayed answer %d: %+v, first %+v", i, again[i], answers[i])
			}
		}
		if len(leakEvents(t, ts, demo.ID)) != 1 || len(leakEvents(t, ts, other.ID)) != 1 || outboxCount(t, ts, demo.ID, "api_key.leaked") != 1 {
			t.Fatal("a replayed alert audited again")
		}
		// Another alert naming the inactive key: true_positive, audited
		// once for that alert.
		second := alertBody(t, shopSecret)
		if a := sendAlert(t, ts.URL, github, second); a[0].Label != "true_positive" {
			t.Fatalf("an inactive key reported again: %+v", a)
		}
		if events := leakEvents(t, ts, demo.ID); len(events) != 2 || !strings.Contains(events[1].Details, "already inactive") {
			t.Fatalf("second alert: %d events", len(events))
		}

		// The rows say Leaked, with where the key was found.
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		_, page := c.get("/general/api-keys")
		doc2 := parseHTML(t, page)
		leaked := doc2.Find("[data-key-leaked]")
		if leaked.Length() != 1 || !strings.Contains(leaked.Text(), "Leaked") || !strings.Contains(leaked.Text(), "GitHub secret scanning") {
			t.Fatalf("Leaked badges: %d %q", leaked.Length(), leaked.Text())
		}
		if href, _ := leaked.Find("a[data-leak-url]").Attr("href"); href != "https://github.com/octo/repo/blob/main/f0.env" {
			t.Fatalf("Leaked row links to %q", href)
		}
		if !strings.Contains(leaked.Closest("tr").Text(), "Shop") {
			t.Fatal("the Leaked badge is not on the leaked key's row")
		}
	})
}

// The key document: fetched when first needed; an unknown identifier
// fetches it again, at most once a minute; rotated keys (is_current
// false) are accepted while listed and refused once gone; a document that
// cannot be fetched makes the alert 503, logged, never accepted unchecked.
func TestSecretScanningKeyDocument(t *testing.T) {
	doc := newKeyDocument(t)
	a, b, c := newSigningKey(t, "key-a"), newSigningKey(t, "key-b"), newSigningKey(t, "key-c")
	doc.set(t, map[signingKey]bool{a: true})
	ts := newTestServer(t, modeltest.SQLite(t), withKeyDocument(doc))
	now := time.Now().UTC()
	ts.Store.SetClock(func() time.Time { return now })
	advance := func(d time.Duration) {
		now = now.Add(d)
		ts.Store.SetClock(func() time.Time { return now })
	}
	body := alertBody(t, keys.NewAPIKeyString())
	status := func(k signingKey) int {
		s, _ := postAlert(t, ts.URL, body, k.id, k.sign(t, body))
		return s
	}
	if doc.fetches.Load() != 0 {
		t.Fatal("the document was fetched before any alert")
	}
	if s := status(a); s != 200 || doc.fetches.Load() != 1 {
		t.Fatalf("first alert: %d, %d fetches", s, doc.fetches.Load())
	}
	if s := status(a); s != 200 || doc.fetches.Load() != 1 {
		t.Fatalf("the document is not cached: %d, %d fetches", s, doc.fetches.Load())
	}

	// GitHub rotates: b is current, a is not but still listed.
	doc.set(t, map[signingKey]bool{a: false, b: true})
	advance(61 * time.Second)
	if s := status(b); s != 200 || doc.fetches.Load() != 2 {
		t.Fatalf("unknown identifier not refetched: %d, %d fetches", s, doc.fetches.Load())
	}
	if s := status(a); s != 200 || doc.fetches.Load() != 2 {
		t.Fatalf("a key marked is_current false: %d, %d fetches", s, doc.fetches.Load())
	}
	// Forged identifiers cannot make keydesk fetch more than once a minute.
	forged := newSigningKey(t, "forged")
	for range 5 {
		if s := status(forged); s != 401 {
			t.Fatalf("unknown key: %d", s)
		}
	}
	if doc.fetches.Load() != 2 {
		t.Fatalf("%d fetches for unknown identifiers within a minute", doc.fetches.Load())
	}
	// c appears and a disappears: c is unknown, but the last fetch was
	// less than a minute ago.
	doc.set(t, map[signingKey]bool{b: false, c: true})
	if s := status(c); s != 401 {
		t.Fatalf("refetched within the minute: %d", s)
	}
	advance(61 * time.Second)
	if s := status(c); s != 200 || doc.fetches.Load() != 3 {
		t.Fatalf("new key after a minute: %d, %d fetches", s, doc.fetches.Load())
	}
	if s := status(a); s != 401 {
		t.Fatalf("a key gone from the document: %d", s)
	}

	// The document's server fails: once the cached document is stale the
	// alert is 503 and logged, whatever its signature.
	doc.fail()
	advance(2 * time.Hour)
	if s, raw := postAlert(t, ts.URL, body, c.id, c.sign(t, body)); s != 503 || !strings.Contains(raw, "ERROR_SERVICE_UNAVAILABLE") {
		t.Fatalf("document down: %d %s", s, raw)
	}
	if !strings.Contains(ts.Logs.String(), "secret scanning alert refused") {
		t.Fatal("the failed fetch is not logged")
	}
	doc.set(t, map[signingKey]bool{c: true})
	if s := status(c); s != 200 {
		t.Fatalf("document back: %d", s)
	}
}

// countAlertLookups counts the statements that look reported keys up.
func countAlertLookups(t *testing.T, ts *testServer) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(tx *gorm.DB) {
		if strings.HasPrefix(tx.Statement.SQL.String(), "SELECT id, program_id, digest, old_digest FROM api_keys WHERE digest IN") {
			n.Add(1)
		}
	}
	for name, cb := range map[string]interface {
		Register(string, func(*gorm.DB)) error
	}{
		"raw":   ts.Store.DB.Callback().Raw().After("gorm:raw"),
		"query": ts.Store.DB.Callback().Query().After("gorm:query"),
		"row":   ts.Store.DB.Callback().Row().After("gorm:row"),
	} {
		if err := cb.Register("test:count_alert_lookups_"+name, count); err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

// 1,000 tokens in one alert cost one lookup, real keys among them or not;
// 100 tokens failing the checksum cost none.
func TestSecretScanningAlertLookups(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		doc := newKeyDocument(t)
		github := newSigningKey(t, "github-1")
		doc.set(t, map[signingKey]bool{github: true})
		ts := newTestServer(t, db, withKeyDocument(doc))
		_, secret1 := apiKey(t, ts, ts.Demo.Program.ID, "One")
		_, secret2 := apiKey(t, ts, ts.Other.Program.ID, "Two")
		keyLookups := countKeyLookups(t, ts.Store.DB)
		alertLookups := countAlertLookups(t, ts)

		var falsePositives []string
		for range 100 {
			falsePositives = append(falsePositives, brokenChecksum(keys.NewAPIKeyString()))
		}
		for _, a := range sendAlert(t, ts.URL, github, alertBody(t, falsePositives...)) {
			if a.Label != "false_positive" {
				t.Fatalf("%+v", a)
			}
		}
		if n := keyLookups.Load(); n != 0 {
			t.Fatalf("100 false positives cost %d statements on api_keys", n)
		}

		tokens := make([]string, 0, 1000)
		for range 998 {
			tokens = append(tokens, keys.NewAPIKeyString())
		}
		tokens = append(tokens, secret1, secret2)
		keyLookups.Store(0)
		answers := sendAlert(t, ts.URL, github, alertBody(t, tokens...))
		if len(answers) != 1000 || answers[998].Label != "true_positive" || answers[999].Label != "true_positive" || answers[0].Label != "false_positive" {
			t.Fatalf("%d answers; last two %+v", len(answers), answers[998:])
		}
		if n := alertLookups.Load(); n != 1 {
			t.Fatalf("1,000 tokens cost %d lookups", n)
		}

		unknownOnly := tokens[:998]
		keyLookups.Store(0)
		sendAlert(t, ts.URL, github, alertBody(t, unknownOnly...))
		if n := keyLookups.Load(); n != 1 {
			t.Fatalf("998 unknown keys cost %d statements on api_keys", n)
		}
	})
}

// revoke posts a public revocation from client.
func revoke(t *testing.T, client *http.Client, baseURL string, tokens ...string) apiResponse {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": tokens})
	if err != nil {
		t.Fatal(err)
	}
	return apiCallWith(t, client, baseURL, "POST", "/v2/keys/revoke", nil, string(b))
}

// POST /v2/keys/revoke: a live key named is switched off before the 202
// and audited with actor public_revocation; unknown, malformed and
// already inactive keys get the very same 202 (no oracle); more than 100
// keys are refused; 60 requests a minute per address, counted exactly
// under simultaneous requests, IPv6 per /64.
func TestPublicRevocation(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		k, secret := apiKey(t, ts, demo.ID, "Shop")
		if r := apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""); r.Status != 200 {
			t.Fatal(r.Raw)
		}
		reporter := clientFrom(t, "127.0.0.2")

		live := revoke(t, reporter, ts.URL, secret)
		assertUnauthorized(t, "revoked key", apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), ""))
		again := revoke(t, reporter, ts.URL, secret)
		unknown := revoke(t, reporter, ts.URL, keys.NewAPIKeyString())
		garbage := revoke(t, reporter, ts.URL, "kd_nope", "", brokenChecksum(secret))
		for name, r := range map[string]apiResponse{"live": live, "inactive": again, "unknown": unknown, "garbage": garbage} {
			if r.Status != http.StatusAccepted || r.Raw != live.Raw {
				t.Errorf("%s key: %d %s, want 202 %s", name, r.Status, r.Raw, live.Raw)
			}
		}
		events := leakEvents(t, ts, demo.ID)
		if len(events) != 2 || events[0].ActorEmail != keys.LeakReporterPublic || events[0].TargetID != k.Identifier ||
			!strings.Contains(events[0].Details, "inactivated") || !strings.Contains(events[1].Details, "already inactive") || events[0].IP != "127.0.0.2" {
			t.Fatalf("audit: %+v", events)
		}

		tooMany := make([]string, 101)
		for i := range tooMany {
			tooMany[i] = keys.NewAPIKeyString()
		}
		if r := revoke(t, reporter, ts.URL, tooMany...); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("101 keys: %d %s", r.Status, r.Raw)
		}
		if r := apiCallWith(t, reporter, ts.URL, "POST", "/v2/keys/revoke", nil, `{"keys": "kd_x"}`); r.Status != http.StatusBadRequest {
			t.Fatalf("keys not a list: %d", r.Status)
		}

		// 70 simultaneous requests from a fresh address: exactly 60 pass.
		// The clock stands still meanwhile, so the budget cannot refill
		// however slowly the machine serves them.
		frozen := time.Now()
		ts.Store.SetClock(func() time.Time { return frozen })
		flood := clientFrom(t, "127.0.0.3")
		var wg sync.WaitGroup
		var accepted, limited atomic.Int64
		start := make(chan struct{})
		for range 70 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				switch r := revoke(t, flood, ts.URL, keys.NewAPIKeyString()); r.Status {
				case http.StatusAccepted:
					accepted.Add(1)
				case http.StatusTooManyRequests:
					if r.Header.Get("Retry-After") == "" || !strings.Contains(r.Raw, "RATE_LIMIT_EXCEEDED") {
						t.Errorf("429 without Retry-After: %s", r.Raw)
					}
					limited.Add(1)
				default:
					t.Errorf("flood: %d %s", r.Status, r.Raw)
				}
			}()
		}
		close(start)
		wg.Wait()
		if accepted.Load() != 60 || limited.Load() != 10 {
			t.Fatalf("70 simultaneous revocations: %d accepted, %d limited; want 60 and 10", accepted.Load(), limited.Load())
		}
		if r := revoke(t, clientFrom(t, "127.0.0.4"), ts.URL, keys.NewAPIKeyString()); r.Status != http.StatusAccepted {
			t.Fatalf("another address is limited too: %d", r.Status)
		}
	})
}

// The limiter counts IPv6 addresses per /64.
func TestRevokeLimitPerIPv6Prefix(t *testing.T) {
	limiter := apiauth.NewAddressLimiter(2, 0, time.Now)
	for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9"} {
		if ok, _ := limiter.Allow(addr); !ok {
			t.Fatalf("%s refused within the budget", addr)
		}
	}
	if ok, retry := limiter.Allow("2001:db8:1:2::abcd"); ok || retry <= 0 {
		t.Fatal("a third address of the same /64 passed")
	}
	if ok, _ := limiter.Allow("2001:db8:1:3::1"); !ok {
		t.Fatal("another /64 is limited")
	}
	if ok, _ := limiter.Allow("192.0.2.1"); !ok {
		t.Fatal("an IPv4 address is limited")
	}
}

// Settings » When a key is found leaked: Notify only keeps a key GitHub
// found working and marks it; the legacy default key is handled as any
// key, and once a leak inactivated it, Settings shows it Inactive and
// Leaked with Activate, which asks for the password first. The public
// revocation API switches a key off whatever the setting.
func TestLeakResponseSettingAndDefaultKey(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.Database) {
		ts := newTestServer(t, db)
		demo := ts.Demo.Program
		_, defaultSecret := defaultKey(t, ts, demo.ID)
		call := func() int {
			return apiCall(t, ts.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, defaultSecret), "").Status
		}
		c := ts.loggedIn(t, ts.Demo.Full.Email)
		_, page := c.get("/general/settings")
		doc := parseHTML(t, page)
		sel := doc.Find("#leak-response select[name=leak_response]")
		if got := doc.Find("#leak-response h2").Text(); got != "When a key is found leaked" {
			t.Fatalf("section heading %q", got)
		}
		if v, _ := sel.Find("option[selected]").Attr("value"); v != "inactivate" || sel.Find("option[selected]").Text() != "Inactivate it at once" {
			t.Fatalf("default choice %q", v)
		}
		if opts := sel.Find("option").Map(func(_ int, s *goquery.Selection) string { return s.Text() }); strings.Join(opts, "|") != "Inactivate it at once|Notify only" {
			t.Fatalf("choices %v", opts)
		}
		if resp, body := c.htmx(http.MethodPost, "/general/settings/leak-response", url.Values{"leak_response": {"delete"}}); resp.StatusCode != 200 || !strings.Contains(body, "Choose what happens") {
			t.Fatalf("bad choice: %d %s", resp.StatusCode, body)
		}
		resp, body := c.htmx(http.MethodPost, "/general/settings/leak-response", url.Values{"leak_response": {"notify"}})
		if v, _ := parseHTML(t, body).Find("option[selected]").Attr("value"); resp.StatusCode != 200 || v != "notify" {
			t.Fatalf("save Notify only: %d %q", resp.StatusCode, v)
		}
		if acts := ts.auditActions(t, demo.ID); !slices.Contains(acts, audit.ActionLeakResponseChanged+":success") {
			t.Fatalf("setting change not audited: %v", acts)
		}

		// Notify only: the default key found by GitHub keeps working,
		// marked Leaked.
		report := func(n int) {
			t.Helper()
			found, err := ts.Store.Keys.ReportLeaked(t.Context(), keys.LeakAlert{Actor: audit.Actor{Email: keys.LeakReporterGitHub},
				Digest: []byte{byte(n)}, Reports: []keys.LeakReport{{Token: defaultSecret, URL: "https://gist.github.com/octo/1"}}})
			if err != nil || !found[0] {
				t.Fatalf("report: %v %v", found, err)
			}
		}
		report(1)
		if call() != 200 {
			t.Fatal("Notify only switched the default key off")
		}
		_, page = c.get("/general/settings")
		section := parseHTML(t, page).Find("#default-key")
		if !strings.Contains(section.Find("[data-key-leaked]").Text(), "GitHub secret scanning") || strings.Contains(section.Text(), "Inactive") {
			t.Fatalf("default key section after a leak under Notify only: %q", section.Text())
		}

		// Inactivate it at once: the next report switches it off.
		if err := ts.Store.Keys.SetLeakResponse(t.Context(), demo.ID, audit.Actor{}, keys.LeakInactivate); err != nil {
			t.Fatal(err)
		}
		report(2)
		if call() != 401 {
			t.Fatal("the leaked default key still works")
		}
		_, page = c.get("/general/settings")
		section = parseHTML(t, page).Find("#default-key")
		activate := section.Find("button[hx-post='/general/settings/default-key/activate']")
		if !strings.Contains(section.Text(), "Inactive") || activate.Length() != 1 || strings.TrimSpace(activate.Text()) != "Activate" {
			t.Fatalf("default key section after inactivation: %q", section.Text())
		}
		// Activate asks for the password first, and changes nothing until then.
		resp, _ = c.htmx(http.MethodPost, "/general/settings/default-key/activate", nil)
		if !strings.Contains(resp.Header.Get("HX-Trigger"), "reauth-required") || call() != 401 {
			t.Fatalf("Activate without the password: %q", resp.Header.Get("HX-Trigger"))
		}
		reauth(t, c, modeltest.Password)
		resp, body = c.htmx(http.MethodPost, "/general/settings/default-key/activate", nil)
		if resp.StatusCode != 200 || strings.Contains(parseHTML(t, body).Find("#default-key").Text(), "Inactive") {
			t.Fatalf("Activate: %d %s", resp.StatusCode, body)
		}
		if call() != 200 {
			t.Fatal("the default key was not activated")
		}

		// Whoever holds the key can switch it off whatever the setting.
		if err := ts.Store.Keys.SetLeakResponse(t.Context(), demo.ID, audit.Actor{}, keys.LeakNotifyOnly); err != nil {
			t.Fatal(err)
		}
		if r := revoke(t, http.DefaultClient, ts.URL, defaultSecret); r.Status != 202 {
			t.Fatal(r.Raw)
		}
		if call() != 401 {
			t.Fatal("the public revocation API did not switch the key off under Notify only")
		}
		_, page = c.get("/general/settings")
		if !strings.Contains(parseHTML(t, page).Find("#default-key [data-key-leaked]").Text(), "public revocation API") {
			t.Fatal("the default key does not say the public revocation API reported it")
		}
	})
}

// Two instances on PostgreSQL: a key reported by a GitHub alert to one,
// or revoked through the public API on one, is refused by the other
// within a second of the answer, although the other had it cached.
func TestLeakedKeyRefusedOnEveryInstance(t *testing.T) {
	db := modeltest.Postgres(t)
	doc := newKeyDocument(t)
	github := newSigningKey(t, "github-1")
	doc.set(t, map[signingKey]bool{github: true})
	a := newTestServer(t, db, withKeyDocument(doc))
	b := newInstance(t, db)
	demo := a.Demo.Program
	_, alerted := apiKey(t, a, demo.ID, "Alerted")
	_, revoked := apiKey(t, a, demo.ID, "Revoked")
	onB := func(secret string) int {
		return apiCall(t, b.URL, "GET", "/v2/loyalty/program", restHeaders(demo.PartnerID, secret), "").Status
	}
	if onB(alerted) != 200 || onB(revoked) != 200 {
		t.Fatal("instance B refuses a valid key")
	}
	if err := a.Store.DB.Exec(`UPDATE api_keys SET active = FALSE WHERE program_id = ?`, demo.ID).Error; err != nil {
		t.Fatal(err)
	}
	if onB(alerted) != 200 {
		t.Fatal("instance B does not cache verified keys; this test would prove nothing")
	}
	if err := a.Store.DB.Exec(`UPDATE api_keys SET active = TRUE WHERE program_id = ?`, demo.ID).Error; err != nil {
		t.Fatal(err)
	}

	sendAlert(t, a.URL, github, alertBody(t, alerted))
	took := waitFor(t, time.Second, "instance B refuses the key GitHub reported", func() bool { return onB(alerted) == 401 })
	t.Logf("alert: instance B refused the key %s after the answer", took)

	if r := revoke(t, http.DefaultClient, a.URL, revoked); r.Status != 202 {
		t.Fatal(r.Raw)
	}
	took = waitFor(t, time.Second, "instance B refuses the revoked key", func() bool { return onB(revoked) == 401 })
	t.Logf("public revocation: instance B refused the key %s after the 202", took)
}

// The key document is fetched through the webhooks' SSRF guard: without
// KEYDESK_WEBHOOK_ALLOW_PRIVATE a loopback URL is never dialled, and the
// alert is 503, not accepted.
func TestSecretScanningKeyDocumentSSRFGuard(t *testing.T) {
	doc := newKeyDocument(t)
	github := newSigningKey(t, "github-1")
	doc.set(t, map[signingKey]bool{github: true})
	ts := newTestServer(t, modeltest.SQLite(t), func(c *config.Options) { c.SecretScanningKeysURL = doc.URL })
	body := alertBody(t, keys.NewAPIKeyString())
	if s, raw := postAlert(t, ts.URL, body, github.id, github.sign(t, body)); s != http.StatusServiceUnavailable {
		t.Fatalf("loopback key document without KEYDESK_WEBHOOK_ALLOW_PRIVATE: %d %s", s, raw)
	}
	if n := doc.fetches.Load(); n != 0 {
		t.Fatalf("the guard let %d fetches through", n)
	}
	if !strings.Contains(ts.Logs.String(), "address not allowed") {
		t.Fatal("the refusal is not logged with its reason")
	}
}
