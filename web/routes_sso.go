package web

import (
	"time"

	"keydesk/handlers"
	"keydesk/routes"
	"keydesk/web/notify"
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
	console.GET(routes.LoginSSO, h.ShowLoginSSO)
	console.POST(routes.LoginSSO, h.LoginSSO)
	console.GET(routes.SSOCallback, h.SSOCallback)
}

// ssoConsoleRoutes registers General » Settings » Single sign-on and the
// step-ups of a session single sign-on started, on the full-access group.
func (s *Server) ssoConsoleRoutes(full routeSet, general func(string) string) {
	h := s.Handlers
	full.GET(general(routes.SettingsSSO), h.SSOSettings)
	full.POST(general(routes.SettingsSSO), h.SaveSSOSettings)
	full.POST(general(routes.SettingsSCIMToken), h.CreateSCIMToken)
}

// scimRoutes registers SCIM 2.0 under /scim/v2: no session, no CSRF (a
// bearer token, never a cookie), the program's SCIM token on every route.
func (s *Server) scimRoutes() {
	h := s.Handlers
	scim := newRouteSet(s.Echo, "", h.SCIMAuth)
	scim.GET(routes.SCIMServiceProviderConfig, h.SCIMServiceProviderConfig)
	scim.GET(routes.SCIMUsers, h.SCIMListUsers)
	scim.POST(routes.SCIMUsers, h.SCIMCreateUser)
	scim.GET(routes.SCIMUserRoute, h.SCIMGetUser)
	s.Echo.PATCH(routes.SCIMUserRoute, h.SCIMPatchUser, h.SCIMAuth)
	s.Echo.DELETE(routes.SCIMUserRoute, h.SCIMDeleteUser, h.SCIMAuth)
}
