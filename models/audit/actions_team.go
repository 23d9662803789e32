package audit

// Actions of General » Admins, /account and two-factor authentication.
const (
	ActionAdminInvited            = "admin.invited"
	ActionAdminInvitationAccepted = "admin.invitation_accepted"
	ActionAdminInvitationRevoked  = "admin.invitation_revoked"
	ActionAdminAccessChanged      = "admin.access_changed"
	ActionAdminRemoved            = "admin.removed"
	ActionPasswordChanged         = "admin.password_changed"
	ActionSessionsEnded           = "admin.sessions_ended"
	ActionTOTPEnabled             = "admin.totp_enabled"
	ActionTOTPDisabled            = "admin.totp_disabled"
	ActionSecondFactorFailed      = "signin.second_factor_failed"
	ActionRecoveryCodeUsed        = "admin.recovery_code_used"
	ActionTwoFactorPolicyChanged  = "program.two_factor_policy_changed"
	// TargetInvitation is an invitation; the target id is its row id.
	TargetInvitation = "invitation"
)

func init() {
	Actions = append(Actions, ActionAdminInvited, ActionAdminInvitationAccepted, ActionAdminInvitationRevoked,
		ActionAdminAccessChanged, ActionAdminRemoved, ActionPasswordChanged, ActionSessionsEnded,
		ActionTOTPEnabled, ActionTOTPDisabled, ActionSecondFactorFailed, ActionRecoveryCodeUsed,
		ActionTwoFactorPolicyChanged)
}
