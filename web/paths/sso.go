package paths

// Single sign-on (OIDC) and SCIM provisioning. The callback is the
// redirect URI an identity provider is given: KEYDESK_BASE_URL + SSOCallback.
const (
	LoginSSO    = Login + "/sso"
	SSOCallback = "/sso/callback"
	// ReauthSSO starts an identity-provider step-up; ReauthCode confirms
	// with the authenticator code alone (sessions signed in by SSO).
	ReauthSSO  = Reauth + "/sso"
	ReauthCode = Reauth + "/code"
	// SettingsSSO is General » Settings » Single sign-on.
	SettingsSSO         = Settings + "/single-sign-on"
	SettingsSCIMToken   = SettingsSSO + "/scim-token"
	SCIM                = "/scim/v2"
	SCIMUsers           = "/Users"
	SCIMUserRoute       = SCIMUsers + "/:id"
	SCIMServiceProvider = "/ServiceProviderConfig"
)
