package web_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"keydesk/config"
	"keydesk/models/modeltest"
	"keydesk/web"
)

// Issue 22 item 3: web.New builds the passkeys' relying party and says
// when KEYDESK_BASE_URL cannot be one, as an error the caller stops on
// (cmd/keydesk serve once checked this by hand before building the
// server); without a base URL the server builds, passkeys off.
func TestNewRefusesABaseURLWithoutPasskeys(t *testing.T) {
	store := modeltest.NewStores(t, modeltest.SQLite(t))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		baseURL string
		refused bool
	}{
		{"http://10.0.0.5:8080", true},
		{"https://[2001:db8::1]/", true},
		{"", false},
		{"http://localhost:8080", false},
		{"https://keys.example.test", false},
	} {
		cfg := config.Default(modeltest.MasterKey)
		cfg.BaseURL = tc.baseURL
		srv, err := web.New(cfg, store.Stores, logger)
		switch {
		case tc.refused && (err == nil || !strings.Contains(err.Error(), `KEYDESK_BASE_URL "`+tc.baseURL+`" cannot carry passkeys`)):
			t.Errorf("base URL %q: %v, want it refused naming the variable", tc.baseURL, err)
		case tc.refused && srv != nil:
			t.Errorf("base URL %q: a server beside the error", tc.baseURL)
		case !tc.refused && (err != nil || srv == nil):
			t.Errorf("base URL %q: %v", tc.baseURL, err)
		}
	}
}
