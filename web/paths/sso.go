package paths

// Single sign-on (OIDC) and SCIM provisioning, each pattern written out
// in full. The callback is the redirect URI an identity provider is given:
// KEYDESK_BASE_URL + SSOCallback.
const (
	LoginSSO    = "/login/sso"
	SSOCallback = "/sso/callback"
	// ReauthSSO starts an identity-provider step-up; ReauthCode confirms
	// with the authenticator code alone (sessions signed in by SSO).
	ReauthSSO  = "/general/reauth/sso"
	ReauthCode = "/general/reauth/code"
	// SettingsSSO is General » Settings » Single sign-on.
	SettingsSSO       = "/general/settings/single-sign-on"
	SettingsSCIMToken = "/general/settings/single-sign-on/scim-token"
	// SCIM 2.0, authenticated by the program's bearer token.
	SCIM                      = "/scim/v2"
	SCIMUsers                 = "/scim/v2/Users"
	SCIMUserRoute             = "/scim/v2/Users/:id"
	SCIMServiceProviderConfig = "/scim/v2/ServiceProviderConfig"
)
