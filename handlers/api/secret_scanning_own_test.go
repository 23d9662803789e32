package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"keydesk/models/keys"
	"keydesk/models/modeltest"
)

// managementLeaks records the management keys handed to it; it knows one
// token. A test's recorder, standing where the management keys' store is
// (web's TestLeakedManagementKeyRevoked drives the real one).
type managementLeaks struct {
	known string
	mu    sync.Mutex
	got   []string
	where []keys.LeakSighting
}

func (m *managementLeaks) RevokeLeaked(_ context.Context, token string, where keys.LeakSighting) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = append(m.got, token)
	m.where = append(m.where, where)
	return token == m.known, nil
}

// A checksum-valid kdm_ token goes to the management keys (and only
// those); without them it is a false positive; kd_ tokens never go there.
func TestAlertRoutesManagementKeys(t *testing.T) {
	s := modeltest.NewStores(t, modeltest.SQLite(t))
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	docJSON, _ := json.Marshal(map[string]any{"public_keys": []map[string]any{{"key_identifier": "k1", "is_current": true,
		"key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	doc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(docJSON) }))
	t.Cleanup(doc.Close)

	random := keys.NewAPIKeyString()[len(keys.KeyPrefix):]
	known, unknown := keys.ManagementKeyPrefix+random, keys.ManagementKeyPrefix+keys.NewAPIKeyString()[len(keys.KeyPrefix):]
	badChecksum := known[:len(known)-1] + map[bool]string{true: "1", false: "0"}[known[len(known)-1] == '0']
	apiKey := keys.NewAPIKeyString()
	body, _ := json.Marshal([]map[string]string{{"token": known, "url": "https://github.com/o/r/blob/x"}, {"token": unknown}, {"token": badChecksum}, {"token": apiKey}})
	digest := sha256.Sum256(body)
	sig, _ := ecdsa.SignASN1(rand.Reader, priv, digest[:])

	labels := func(m LeakedManagementKeys) []string {
		e := echo.New()
		h := NewLeakResponse(LeakDeps{Keys: s.Keys, Management: m, AlertKeys: NewAlertKeys(doc.URL, doc.Client(), s.Clock),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		e.POST("/alert", h.GitHubAlert)
		req := httptest.NewRequest(http.MethodPost, "/alert", strings.NewReader(string(body)))
		req.Header.Set(HeaderAlertKeyID, "k1")
		req.Header.Set(HeaderAlertSignature, base64.StdEncoding.EncodeToString(sig))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		var answers []alertAnswer
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &answers) != nil {
			t.Fatalf("alert: %d %s", rec.Code, rec.Body)
		}
		var out []string
		for _, a := range answers {
			out = append(out, a.TokenType+" "+a.Label)
		}
		return out
	}
	m := &managementLeaks{known: known}
	got := strings.Join(labels(m), ", ")
	want := "keydesk_management_key true_positive, keydesk_management_key false_positive, keydesk_management_key false_positive, keydesk_api_key false_positive"
	if got != want {
		t.Fatalf("with management keys: %s, want %s", got, want)
	}
	if len(m.got) != 2 || m.got[0] != known || m.got[1] != unknown || m.where[0].URL != "https://github.com/o/r/blob/x" ||
		m.where[0].Actor.Email != keys.LeakReporterGitHub || len(m.where[0].AlertDigest) != sha256.Size {
		t.Fatalf("handed to the management keys: %v %+v", m.got, m.where)
	}
	got = strings.Join(labels(nil), ", ")
	want = "keydesk_management_key false_positive, keydesk_management_key false_positive, keydesk_management_key false_positive, keydesk_api_key false_positive"
	if got != want {
		t.Fatalf("without management keys: %s, want %s", got, want)
	}
}
