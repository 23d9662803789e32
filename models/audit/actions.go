package audit

import "slices"

// Action is one kind of audit event: the table below is the one place
// that names it, puts it into words and says what leaves keydesk for it.
type Action struct {
	// Name is what audit_events.action holds and what exports, the
	// management API and metrics show.
	Name string
	// Label is the action in words on the Audit Trail page (list and
	// filter).
	Label string
	// Webhook is the webhook event type a successful event of this action
	// enqueues in its transaction, "" for none.
	Webhook string
	// Mail says whether that webhook event is also mailed to the program's
	// full-access admins (api_key.revealed only to those who did not
	// reveal it). An invitation's own email to the invitee is not a
	// notice and is sent whatever this says.
	Mail bool
	// LeakWebhook is the webhook event type a successful event of this
	// action enqueues instead of Webhook when a leak report caused it
	// (details reason "leaked"), "" for none; it is always mailed too, as
	// api_key.leaked is. A management key an admin revokes enqueues
	// nothing; one revoked because it was found leaked enqueues
	// management_key.leaked.
	LeakWebhook string
	// Formerly lists names earlier releases stored for the same action.
	// Rows are never rewritten (the trail is append-only and hash-chained),
	// so those rows keep their name; they are labelled as this action and
	// the filter for Name matches them too.
	Formerly []string
}

// Audit actions. Their words and webhooks are in ActionTable.
const (
	// Sign-in, sign-out and re-authentication.
	ActionSignIn             = "signin.succeeded"
	ActionSignInFailed       = "signin.failed"
	ActionSecondFactorFailed = "signin.second_factor_failed"
	ActionSignOut            = "signout"
	ActionReauthSucceeded    = "reauth.succeeded"
	ActionReauthFailed       = "reauth.failed"
	ActionReauthLocked       = "reauth.locked"
	// ActionProgramSwitched records an admin switching the program the
	// console acts on; it is appended to the program switched to.
	ActionProgramSwitched = "session.program_switched"

	// API keys. ActionKeyUpdated is any edit of a key: name and
	// description, expiry, permissions or allowed addresses, with
	// before/after. Releases before it stored a name or description edit
	// as LegacyActionKeyEdited.
	ActionKeyGenerated   = "api_key.generated"
	ActionKeyUpdated     = "api_key.updated"
	ActionKeyRevealed    = "api_key.revealed"
	ActionKeyCopied      = "api_key.copied"
	ActionKeyRolled      = "api_key.rolled"
	ActionKeyInactivated = "api_key.inactivated"
	ActionKeyActivated   = "api_key.activated"
	ActionKeyDeleted     = "api_key.deleted"
	// The expiry sweep: a key's expiry is 7 days or 1 day away, or has
	// come. The system is the actor.
	ActionKeyExpiring   = "api_key.expiring"
	ActionKeyExpired    = "api_key.expired"
	ActionKeyOldExpired = "api_key.old_key_expired"
	ActionAccessRefused = "access.refused"
	// Leak response: a key reported leaked (GitHub secret scanning, the
	// public revocation API; the reporter is the actor, without an admin
	// id) and the program's setting of what a leak does.
	ActionKeyLeaked           = "api_key.leaked"
	ActionLeakResponseChanged = "program.leak_response_changed"
	// ActionKeyQuotaThreshold: a key's calls reached 80 % or 100 % of its
	// period's quota (once each per period). The system is the actor.
	ActionKeyQuotaThreshold = "api_key.quota_threshold"
	// ActionMemberCreated records a loyalty member created through the API.
	ActionMemberCreated = "member.created"

	// The program and its settings.
	ActionProgramCreated         = "program.created"
	ActionKeyLifetimeChanged     = "program.max_key_lifetime_changed"
	ActionTwoFactorPolicyChanged = "program.two_factor_policy_changed"

	// General » Admins and /account.
	ActionAdminCreated            = "admin.created"
	ActionAdminInvited            = "admin.invited"
	ActionAdminInvitationAccepted = "admin.invitation_accepted"
	ActionAdminInvitationRevoked  = "admin.invitation_revoked"
	ActionAdminAccessChanged      = "admin.access_changed"
	ActionAdminRemoved            = "admin.removed"
	ActionPasswordChanged         = "admin.password_changed"
	ActionSessionsEnded           = "admin.sessions_ended"
	ActionTOTPEnabled             = "admin.totp_enabled"
	ActionTOTPDisabled            = "admin.totp_disabled"
	ActionRecoveryCodeUsed        = "admin.recovery_code_used"
	ActionPasskeyAdded            = "admin.passkey_added"
	ActionPasskeyRenamed          = "admin.passkey_renamed"
	ActionPasskeyRemoved          = "admin.passkey_removed"
	// ActionPasskeyOnlyChanged is no longer written: any passkey signs its
	// admin in since the "passkey only" switch went. Listed so the events
	// an earlier release appended keep their label and filter.
	ActionPasskeyOnlyChanged       = "admin.passkey_only_changed"
	ActionRecoveryCodesRegenerated = "admin.recovery_codes_regenerated"

	// General » Webhooks.
	ActionWebhookCreated       = "webhook.created"
	ActionWebhookUpdated       = "webhook.updated"
	ActionWebhookDeleted       = "webhook.deleted"
	ActionWebhookSecretRotated = "webhook.secret_rotated"
	ActionWebhookTestSent      = "webhook.test_sent"
	ActionWebhookRetried       = "webhook.retried"

	// The audit trail itself and the master key.
	ActionAuditDownloaded = "audit.downloaded"
	ActionAuditVerified   = "audit.verified"
	// ActionAuditRekeyed records that `keydesk audit rekey` re-chained a
	// legacy chain under the keyed hash (counts only).
	ActionAuditRekeyed = "audit.rekeyed"
	// ActionMasterKeyRotated records that a batch of a program's API keys
	// was re-sealed under the current master key (counts only, never a
	// secret).
	ActionMasterKeyRotated = "master_key.rotated"

	// General » Management keys: keys of the management API (kdm_…).
	ActionManagementKeyCreated = "management_key.created"
	ActionManagementKeyRevoked = "management_key.revoked"
	// Single sign-on and SCIM provisioning (issue 26). A signed-in admin
	// by SSO is ActionSignIn with details method "sso"; an identity
	// provider step-up is ActionReauthSucceeded/Failed with method "sso".
	ActionSSOSignInFailed    = "signin.sso_failed"
	ActionSSOChanged         = "program.sso_changed"
	ActionSCIMTokenCreated   = "program.scim_token_created"
	ActionAdminProvisioned   = "admin.provisioned"
	ActionAdminDeprovisioned = "admin.deprovisioned"
)

// LegacyActionKeyEdited is the name releases before ActionKeyUpdated
// stored for a key's name or description edit. It is read (labelled and
// filtered as ActionKeyUpdated), never appended.
const LegacyActionKeyEdited = "api_key.edited"

// ActionTable is every audit action, in the order the Audit Trail's filter
// offers them; the webhook event types keep this order on General »
// Webhooks. Add a new action here, nowhere else.
var ActionTable = []Action{
	{Name: ActionSignIn, Label: "Signed in"},
	{Name: ActionSignInFailed, Label: "Sign-in failed"},
	{Name: ActionSecondFactorFailed, Label: "Two-factor code refused"},
	{Name: ActionSignOut, Label: "Signed out"},
	{Name: ActionReauthSucceeded, Label: "Password confirmed"},
	{Name: ActionReauthFailed, Label: "Password confirmation failed"},
	{Name: ActionReauthLocked, Label: "Password confirmation locked"},
	{Name: ActionProgramSwitched, Label: "Switched program"},

	{Name: ActionKeyGenerated, Label: "API key generated", Webhook: "api_key.created", Mail: true},
	{Name: ActionKeyUpdated, Label: "API key edited", Webhook: "api_key.updated", Formerly: []string{LegacyActionKeyEdited}},
	{Name: ActionKeyRevealed, Label: "API key revealed", Webhook: "api_key.revealed", Mail: true},
	{Name: ActionKeyCopied, Label: "API key copied", Webhook: "api_key.copied"},
	{Name: ActionKeyRolled, Label: "API key rolled", Webhook: "api_key.rolled", Mail: true},
	{Name: ActionKeyInactivated, Label: "API key inactivated", Webhook: "api_key.inactivated"},
	{Name: ActionKeyActivated, Label: "API key activated", Webhook: "api_key.activated"},
	{Name: ActionKeyDeleted, Label: "API key deleted", Webhook: "api_key.deleted"},
	{Name: ActionKeyExpiring, Label: "API key expiring soon", Webhook: "api_key.expiring", Mail: true},
	{Name: ActionKeyExpired, Label: "API key expired", Webhook: "api_key.expired", Mail: true},
	{Name: ActionKeyOldExpired, Label: "Old API key stopped working"},
	{Name: ActionKeyLeaked, Label: "API key found leaked", Webhook: "api_key.leaked", Mail: true},
	{Name: ActionLeakResponseChanged, Label: "Leak response changed"},
	{Name: ActionKeyQuotaThreshold, Label: "API key quota threshold reached", Webhook: "api_key.quota_threshold", Mail: true},
	{Name: ActionAccessRefused, Label: "Access refused"},
	{Name: ActionMemberCreated, Label: "Member created"},

	{Name: ActionProgramCreated, Label: "Program created"},
	{Name: ActionKeyLifetimeChanged, Label: "Maximum key lifetime changed"},
	{Name: ActionTwoFactorPolicyChanged, Label: "Two-factor policy changed"},

	{Name: ActionAdminCreated, Label: "Admin added"},
	{Name: ActionAdminInvited, Label: "Admin invited", Webhook: "admin.invited"},
	{Name: ActionAdminInvitationAccepted, Label: "Invitation accepted"},
	{Name: ActionAdminInvitationRevoked, Label: "Invitation revoked"},
	{Name: ActionAdminAccessChanged, Label: "Admin access changed"},
	{Name: ActionAdminRemoved, Label: "Admin removed", Webhook: "admin.removed"},
	{Name: ActionPasswordChanged, Label: "Password changed"},
	{Name: ActionSessionsEnded, Label: "Other sessions signed out"},
	{Name: ActionTOTPEnabled, Label: "Authenticator app set up"},
	{Name: ActionTOTPDisabled, Label: "Authenticator app removed"},
	{Name: ActionRecoveryCodeUsed, Label: "Recovery code used"},
	{Name: ActionRecoveryCodesRegenerated, Label: "Recovery codes regenerated"},
	{Name: ActionPasskeyAdded, Label: "Passkey added"},
	{Name: ActionPasskeyRenamed, Label: "Passkey renamed"},
	{Name: ActionPasskeyRemoved, Label: "Passkey removed"},
	{Name: ActionPasskeyOnlyChanged, Label: "Passkey-only sign-in changed"},

	{Name: ActionWebhookCreated, Label: "Webhook endpoint added"},
	{Name: ActionWebhookUpdated, Label: "Webhook endpoint edited"},
	{Name: ActionWebhookDeleted, Label: "Webhook endpoint deleted"},
	{Name: ActionWebhookSecretRotated, Label: "Webhook secret rotated"},
	{Name: ActionWebhookTestSent, Label: "Webhook test event sent"},
	{Name: ActionWebhookRetried, Label: "Webhook delivery retried"},

	{Name: ActionAuditDownloaded, Label: "Audit trail downloaded"},
	{Name: ActionAuditVerified, Label: "Audit trail verified"},
	{Name: ActionAuditRekeyed, Label: "Audit trail re-keyed"},
	{Name: ActionMasterKeyRotated, Label: "Master key rotated"},

	{Name: ActionManagementKeyCreated, Label: "Management key created"},
	{Name: ActionManagementKeyRevoked, Label: "Management key revoked", LeakWebhook: "management_key.leaked"},
	{Name: ActionSSOSignInFailed, Label: "Single sign-on refused"},
	{Name: ActionSSOChanged, Label: "Single sign-on settings changed"},
	{Name: ActionSCIMTokenCreated, Label: "SCIM token created"},
	{Name: ActionAdminProvisioned, Label: "Admin provisioned (SCIM)"},
	{Name: ActionAdminDeprovisioned, Label: "Admin deprovisioned (SCIM)"},
}

// LookupAction finds an action by its name or a former name.
func LookupAction(name string) (Action, bool) {
	for _, a := range ActionTable {
		if a.Name == name || slices.Contains(a.Formerly, name) {
			return a, true
		}
	}
	return Action{}, false
}

// ActionLabel is an action in words; an unknown name reads as itself.
func ActionLabel(name string) string {
	if a, ok := LookupAction(name); ok {
		return a.Label
	}
	return name
}

// StoredNames are the names rows of this action may hold: its name, then
// its former names.
func (a Action) StoredNames() []string {
	return append([]string{a.Name}, a.Formerly...)
}

// WebhookEventType is the webhook event type of action's successful
// events, "" for none.
func WebhookEventType(action string) string {
	a, _ := LookupAction(action)
	return a.Webhook
}

// LeakWebhookEventType is the webhook event type of action's successful
// events caused by a leak report, "" for none.
func LeakWebhookEventType(action string) string {
	a, _ := LookupAction(action)
	return a.LeakWebhook
}

// WebhookEventTypes lists the webhook event types in table order (an
// action's Webhook before its LeakWebhook).
func WebhookEventTypes() []string {
	var types []string
	for _, a := range ActionTable {
		if a.Webhook != "" {
			types = append(types, a.Webhook)
		}
		if a.LeakWebhook != "" {
			types = append(types, a.LeakWebhook)
		}
	}
	return types
}

// MailedEventTypes lists the webhook event types that are also mailed.
func MailedEventTypes() []string {
	var types []string
	for _, a := range ActionTable {
		if a.Mail {
			types = append(types, a.Webhook)
		}
		if a.LeakWebhook != "" {
			types = append(types, a.LeakWebhook)
		}
	}
	return types
}
