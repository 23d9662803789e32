package routes

// The route table: every route the server registers, one line each, its
// Go name = its Echo pattern. ":name" segments are parameters (Reverse
// fills them in), a final "*" matches the rest of the path. A pattern with
// a parameter is named ...Route; the function without the suffix builds
// its URL. web registers these constants and no other pattern, and
// TestRouteTable keeps the two equal: a route added here and not
// registered, or registered and not added here, fails it.
//
// Write each pattern out in full (no concatenation): the test reads this
// block as written.
const (
	// Unauthenticated probes and the embedded assets.
	Healthz = "/healthz"
	Readyz  = "/readyz"
	Static  = "/static/*"

	// Signing in and out, the second step, invitations.
	Login                   = "/login"
	Logout                  = "/logout"
	LoginCode               = "/login/code"
	LoginPasskey            = "/login/passkey"
	LoginPasskeyOptions     = "/login/passkey/options"
	LoginCodePasskey        = "/login/code/passkey"
	LoginCodePasskeyOptions = "/login/code/passkey/options"
	InviteRoute             = "/invite/:token"
	// Single sign-on: SSOCallback is the redirect URI an identity
	// provider is given (KEYDESK_BASE_URL + SSOCallback).
	LoginSSO    = "/login/sso"
	SSOCallback = "/sso/callback"

	// Every admin's own account and program switch.
	Account                   = "/account"
	AccountPassword           = "/account/password"
	AccountSignOutOthers      = "/account/sessions/sign-out-others"
	AccountTOTPSetup          = "/account/totp/setup"
	AccountTOTPConfirm        = "/account/totp/confirm"
	AccountTOTPRemove         = "/account/totp/remove"
	AccountRecoveryCodes      = "/account/totp/recovery-codes"
	AccountPasskeys           = "/account/passkeys"
	AccountPasskeyOptions     = "/account/passkeys/options"
	AccountPasskeyRenameRoute = "/account/passkeys/:id/rename"
	AccountPasskeyRemoveRoute = "/account/passkeys/:id/remove"
	SwitchProgram             = "/session/program"

	// The console's pages for signed-in admins. NoAccess lies below
	// /general but outside the full-access group.
	Home     = "/"
	NoAccess = "/general/no-access"

	// General » Settings and the password dialog.
	Settings          = "/general/settings"
	SettingsTwoFactor = "/general/settings/two-factor"
	MaxKeyLifetime    = "/general/settings/max-key-lifetime"
	LeakResponse      = "/general/settings/leak-response"
	SettingsSSO       = "/general/settings/single-sign-on"
	SettingsSCIMToken = "/general/settings/single-sign-on/scim-token"
	// ReauthSSO starts an identity-provider step-up; ReauthCode confirms
	// with the authenticator code alone (sessions signed in by SSO).
	ReauthSSO            = "/general/reauth/sso"
	ReauthCode           = "/general/reauth/code"
	DefaultKeyActivate   = "/general/settings/default-key/activate"
	Reauth               = "/general/reauth"
	ReauthPasskey        = "/general/reauth/passkey"
	ReauthPasskeyOptions = "/general/reauth/passkey/options"

	// General » API Keys and the API reference.
	APIKeys               = "/general/api-keys"
	NewAPIKey             = "/general/api-keys/new"
	APIKeyEditRoute       = "/general/api-keys/:id/edit"
	APIKeyRevealRoute     = "/general/api-keys/:id/reveal"
	APIKeyCopyRoute       = "/general/api-keys/:id/copy"
	APIKeyInactivateRoute = "/general/api-keys/:id/inactivate"
	APIKeyActivateRoute   = "/general/api-keys/:id/activate"
	APIKeyDeleteRoute     = "/general/api-keys/:id/delete"
	APIKeyRollRoute       = "/general/api-keys/:id/roll"
	APIKeyExpireOldRoute  = "/general/api-keys/:id/expire-old"
	APIKeyUsageRoute      = "/general/api-keys/:id/usage"
	APIReference          = "/general/api-reference"

	// General » Webhooks.
	Webhooks                  = "/general/webhooks"
	WebhookEndpointRoute      = "/general/webhooks/:id"
	WebhookTestRoute          = "/general/webhooks/:id/test"
	WebhookRotateRoute        = "/general/webhooks/:id/rotate"
	WebhookDeleteRoute        = "/general/webhooks/:id/delete"
	WebhookDeliveryRetryRoute = "/general/webhooks/:id/deliveries/:delivery/retry"
	WebhookDeliveryRoute      = "/general/webhooks/:id/deliveries/:delivery"

	// General » Admins (full-access admins; InvitationRevokeRoute's :id is
	// an invitation's).
	Admins                = "/general/admins"
	AdminInvite           = "/general/admins/invite"
	AdminAccessRoute      = "/general/admins/:id/access"
	AdminRemoveRoute      = "/general/admins/:id/remove"
	InvitationRevokeRoute = "/general/admins/invitations/:id/revoke"

	// General » Management keys (keys of the management API, kdm_…).
	ManagementKeys           = "/general/management-keys"
	NewManagementKey         = "/general/management-keys/new"
	ManagementKeyRevokeRoute = "/general/management-keys/:id/revoke"

	// General » Audit Trail (admins holding the audit_trail module).
	AuditTrail              = "/general/audit-trail"
	AuditTrailDownload      = "/general/audit-trail/download"
	AuditTrailDownloadJSONL = "/general/audit-trail/download.jsonl"
	AuditTrailVerify        = "/general/audit-trail/verify"

	// The REST and UI API (openapi.yaml describes each).
	APIOpenAPI     = "/v2/openapi.yaml"
	APIProgram     = "/v2/loyalty/program"
	APIMembers     = "/v2/loyalty/members"
	APIMemberRoute = "/v2/loyalty/members/:member_id"
	APIUIMember    = "/v2/loyalty/ui/member"

	// SCIM 2.0, authenticated by the program's bearer token.
	SCIMUsers                 = "/scim/v2/Users"
	SCIMUserRoute             = "/scim/v2/Users/:id"
	SCIMServiceProviderConfig = "/scim/v2/ServiceProviderConfig"

	// Leak response: GitHub's secret-scanning alerts and public revocation.
	APISecretScanningGitHub = "/v2/secret-scanning/github"
	APIRevokeKeys           = "/v2/keys/revoke"

	// The management API (Bearer kdm_…; openapi.yaml names each route's scope).
	ManageKeys               = "/v2/manage/keys"
	ManageKeyRoute           = "/v2/manage/keys/:identifier"
	ManageKeyRollRoute       = "/v2/manage/keys/:identifier/roll"
	ManageKeyInactivateRoute = "/v2/manage/keys/:identifier/inactivate"
	ManageKeyActivateRoute   = "/v2/manage/keys/:identifier/activate"
	ManageKeyUsageRoute      = "/v2/manage/keys/:identifier/usage"
	ManageAudit              = "/v2/manage/audit"
)
