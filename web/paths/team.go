package paths

import "strconv"

// General » Admins (full-access admins). The Route constants are Echo
// patterns with an :id parameter (an admin's id; an invitation's id for
// InvitationRevokeRoute).
const (
	Admins                = General + "/admins"
	AdminInvite           = Admins + "/invite"
	AdminAccessRoute      = Admins + "/:id/access"
	AdminRemoveRoute      = Admins + "/:id/remove"
	InvitationRevokeRoute = Admins + "/invitations/:id/revoke"
	SettingsTwoFactor     = Settings + "/two-factor"
)

// The invitation link, public: /invite/<token>.
const (
	InvitePrefix = "/invite/"
	InviteRoute  = InvitePrefix + ":token"
)

// Every admin's own account and the sign-in's second step.
const (
	Account              = "/account"
	AccountPassword      = Account + "/password"
	AccountSignOutOthers = Account + "/sessions/sign-out-others"
	AccountTOTPSetup     = Account + "/totp/setup"
	AccountTOTPConfirm   = Account + "/totp/confirm"
	AccountTOTPRemove    = Account + "/totp/remove"
	LoginCode            = Login + "/code"
)

// AdminAccess is the Change access form of an admin.
func AdminAccess(id int64) string { return Admins + "/" + strconv.FormatInt(id, 10) + "/access" }

// AdminRemove asks for and performs an admin's removal.
func AdminRemove(id int64) string { return Admins + "/" + strconv.FormatInt(id, 10) + "/remove" }

// InvitationRevoke cancels a pending invitation.
func InvitationRevoke(id int64) string {
	return Admins + "/invitations/" + strconv.FormatInt(id, 10) + "/revoke"
}
