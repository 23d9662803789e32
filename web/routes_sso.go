package web

import (
	"time"

	"keydesk/handlers"
	"keydesk/web/notify"
	"keydesk/web/paths"
)

// ssoFetchTimeout bounds one request to an identity provider (discovery,
// keys, code exchange).
const ssoFetchTimeout = 10 * time.Second

// ssoOptions is what single sign-on takes from the configuration: the
// webhook's SSRF-guarded client (private and loopback issuers only with
// KEYDESK_WEBHOOK_ALLOW_PRIVATE=true).
func ssoOptions(allowPrivate bool) handlers.SSOOptions {
	return handlers.SSOOptions{Client: notify.NewHTTPClient(allowPrivate, ssoFetchTimeout), AllowPrivate: allowPrivate}
}

// ssoSignInRoutes registers Sign in with SSO and the identity providers'
// callback on the console's public routes.
func (s *Server) ssoSignInRoutes(console routeSet) {
	h := s.Handlers
	console.GET(paths.LoginSSO, h.ShowLoginSSO)
	console.POST(paths.LoginSSO, h.LoginSSO)
	console.GET(paths.SSOCallback, h.SSOCallback)
}

// ssoConsoleRoutes registers General » Settings » Single sign-on and the
// step-ups of a session single sign-on started, on the full-access group.
func (s *Server) ssoConsoleRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(paths.SettingsSSO), h.SSOSettings)
	full.POST(general(paths.SettingsSSO), h.SaveSSOSettings)
	full.POST(general(paths.SettingsSCIMToken), h.CreateSCIMToken)
	full.POST(general(paths.ReauthSSO), h.ReauthSSO)
	full.POST(general(paths.ReauthCode), h.ReauthenticateCode)
}

// scimRoutes registers SCIM 2.0 under /scim/v2: no session, no CSRF (a
// bearer token, never a cookie), the program's SCIM token on every route.
func (s *Server) scimRoutes() {
	h := s.Handlers
	scim := newRouteSet(s.Echo, "", h.SCIMAuth)
	scim.GET(paths.SCIMServiceProviderConfig, h.SCIMServiceProviderConfig)
	scim.GET(paths.SCIMUsers, h.SCIMListUsers)
	scim.POST(paths.SCIMUsers, h.SCIMCreateUser)
	scim.GET(paths.SCIMUserRoute, h.SCIMGetUser)
	s.Echo.PATCH(paths.SCIMUserRoute, h.SCIMPatchUser, h.SCIMAuth)
	s.Echo.DELETE(paths.SCIMUserRoute, h.SCIMDeleteUser, h.SCIMAuth)
}
