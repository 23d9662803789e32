package web

import (
	"time"

	"keydesk/config"
	"keydesk/handlers/api"
	"keydesk/models/apiauth"
	"keydesk/models/database"
	"keydesk/routes"
	"keydesk/web/notify"
)

// alertKeysTimeout bounds one fetch of the secret-scanning key document.
const alertKeysTimeout = 10 * time.Second

// leakRoutes registers GitHub's secret-scanning partner endpoint and the
// public revocation API. Both are public: the alert is authenticated by
// its signature, a revocation by holding the key it names. Leaked
// management keys (kdm_…) are handed to management, which revokes them.
func (s *Server) leakRoutes(g routeSet, management api.LeakedManagementKeys) {
	client := notify.NewHTTPClient(s.leaks.allowPrivate, alertKeysTimeout)
	handler := api.NewLeakResponse(api.LeakDeps{
		Keys:       s.Stores.Keys,
		Management: management,
		AlertKeys:  api.NewAlertKeys(s.leaks.keysURL, client, s.Stores.Clock),
		Revokes:    s.leaks.revokes,
		Wake:       s.webhooks.Wake,
		Logger:     s.logger,
	})
	g.POST(v2(routes.APISecretScanningGitHub), handler.GitHubAlert)
	g.POST(v2(routes.APIRevokeKeys), handler.RevokeKeys)
}

func newLeakConfig(cfg config.Options, clock database.Clock) leakConfig {
	return leakConfig{keysURL: cfg.SecretScanningKeysURL, allowPrivate: cfg.Events.Webhooks.AllowPrivate,
		revokes: apiauth.NewAddressLimiter(api.RevokePerMinute, 0, clock)}
}

// leakConfig is what the leak-response routes read of the configuration.
type leakConfig struct {
	keysURL      string // KEYDESK_SECRET_SCANNING_KEYS_URL
	allowPrivate bool   // KEYDESK_WEBHOOK_ALLOW_PRIVATE: the fetch's SSRF guard off
	// revokes is the per-address budget of POST /v2/keys/revoke.
	revokes *apiauth.AddressLimiter
}

// leakSettingsRoutes registers General » Settings' leak response and the
// default key's Activate (full-access admins, CSRF-protected).
func (s *Server) leakSettingsRoutes(full routeSet, general func(string) string) {
	full.POST(general(routes.LeakResponse), s.Handlers.SetLeakResponse)
	full.POST(general(routes.DefaultKeyActivate), s.Handlers.ActivateDefaultKey)
}
