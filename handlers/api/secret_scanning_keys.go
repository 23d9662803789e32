package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"keydesk/models/database"
)

// Errors of an alert's signature check.
var (
	// ErrAlertSignature: the signature is missing, malformed, made with a
	// key the document does not hold, or does not verify.
	ErrAlertSignature = errors.New("secret scanning: bad alert signature")
	// ErrAlertKeysUnavailable: the key document could not be fetched, so
	// the alert cannot be checked (and is never accepted unchecked).
	ErrAlertKeysUnavailable = errors.New("secret scanning: the public keys could not be fetched")
)

// Timing of the key document: it is kept for AlertKeysMaxAge, and an
// alert signed with a key it does not hold fetches it again at most once
// per AlertKeysRefetchInterval (so forged identifiers cannot make keydesk
// hammer the document's server).
const (
	AlertKeysMaxAge          = time.Hour
	AlertKeysRefetchInterval = time.Minute
	// maxAlertKeysDocument bounds the document read.
	maxAlertKeysDocument = 1 << 20
)

// AlertKeys checks the signatures of GitHub's secret-scanning alerts
// against the public keys of the document at its URL ({"public_keys":
// [{"key_identifier", "key" (PEM), "is_current"}]}), fetched when first
// needed, again when older than AlertKeysMaxAge, and again on an unknown
// key identifier at most once per AlertKeysRefetchInterval. Keys marked
// is_current false are accepted as long as the document lists them.
type AlertKeys struct {
	url    string
	client *http.Client
	now    database.Clock

	fetch     sync.Mutex // one fetch at a time
	mu        sync.RWMutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last fetch attempt
}

// NewAlertKeys builds the checker over the key document at url, fetched
// with client (the webhooks' SSRF-guarded client).
func NewAlertKeys(url string, client *http.Client, now database.Clock) *AlertKeys {
	return &AlertKeys{url: url, client: client, now: now}
}

// Verify checks signature (base64 of an ASN.1 ECDSA P-256 signature over
// the SHA-256 of body) with the key named keyID. ErrAlertKeysUnavailable
// when the document was needed and could not be fetched (wrapping why).
func (a *AlertKeys) Verify(ctx context.Context, keyID, signature string, body []byte) error {
	if keyID == "" || signature == "" {
		return ErrAlertSignature
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return ErrAlertSignature
	}
	key, err := a.key(ctx, keyID)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ErrAlertSignature
	}
	return nil
}

// key returns the public key named id, fetching the document when it is
// missing or stale, or when id is unknown and the last fetch is more than
// AlertKeysRefetchInterval ago.
func (a *AlertKeys) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	k, fresh, ok := a.cached(id)
	if ok && fresh {
		return k, nil
	}
	a.fetch.Lock()
	defer a.fetch.Unlock()
	// Another request may have fetched while this one waited.
	k, fresh, ok = a.cached(id)
	if ok && fresh {
		return k, nil
	}
	a.mu.RLock()
	loaded, stale, triedAt := a.keys != nil, a.now().Sub(a.fetchedAt) >= AlertKeysMaxAge, a.triedAt
	a.mu.RUnlock()
	if loaded && !stale && a.now().Sub(triedAt) < AlertKeysRefetchInterval {
		return nil, ErrAlertSignature // unknown, and fetched a moment ago
	}
	if err := a.load(ctx); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAlertKeysUnavailable, err)
	}
	if k, _, ok = a.cached(id); ok {
		return k, nil
	}
	return nil, ErrAlertSignature
}

// cached looks id up in the document held; fresh is false when the
// document is older than AlertKeysMaxAge (or none was fetched).
func (a *AlertKeys) cached(id string) (key *ecdsa.PublicKey, fresh, ok bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	key, ok = a.keys[id]
	return key, a.keys != nil && a.now().Sub(a.fetchedAt) < AlertKeysMaxAge, ok
}

// alertKeysDocument is GitHub's document of secret-scanning public keys.
type alertKeysDocument struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// load fetches the document and replaces the keys held. A document that
// fails to parse, or holds no usable key, replaces nothing.
func (a *AlertKeys) load(ctx context.Context) error {
	a.mu.Lock()
	a.triedAt = a.now()
	a.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", a.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAlertKeysDocument+1))
	if err != nil {
		return err
	}
	if len(body) > maxAlertKeysDocument {
		return fmt.Errorf("GET %s: document larger than %d bytes", a.url, maxAlertKeysDocument)
	}
	var doc alertKeysDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("GET %s: %w", a.url, err)
	}
	keys := map[string]*ecdsa.PublicKey{}
	for _, k := range doc.PublicKeys {
		pub, err := parseP256PublicKey(k.Key)
		if err != nil || k.KeyIdentifier == "" {
			continue
		}
		keys[k.KeyIdentifier] = pub
	}
	if len(keys) == 0 {
		return fmt.Errorf("GET %s: no P-256 public key in the document", a.url)
	}
	a.mu.Lock()
	a.keys, a.fetchedAt = keys, a.now()
	a.mu.Unlock()
	return nil
}

// parseP256PublicKey reads a PEM "PUBLIC KEY" block holding an ECDSA P-256
// key.
func parseP256PublicKey(text string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return key, nil
}
