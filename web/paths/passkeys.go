package paths

import "strconv"

// Passkeys: managed on /account; each ceremony has an options step (the
// challenge) and an answer step. Re-authentication's sit next to the
// password dialog's route, sign-in's next to /login.
const (
	AccountPasskeys           = Account + "/passkeys"
	AccountPasskeyOptions     = AccountPasskeys + "/options"
	AccountPasskeyRenameRoute = AccountPasskeys + "/:id/rename"
	AccountPasskeyRemoveRoute = AccountPasskeys + "/:id/remove"
	AccountPasskeyOnly        = AccountPasskeys + "/only"
	ReauthPasskey             = Reauth + "/passkey"
	ReauthPasskeyOptions      = ReauthPasskey + "/options"
	LoginPasskey              = Login + "/passkey"
	LoginPasskeyOptions       = LoginPasskey + "/options"
	LoginCodePasskey          = LoginCode + "/passkey"
	LoginCodePasskeyOptions   = LoginCodePasskey + "/options"
)

// AccountPasskeyRename renames a passkey.
func AccountPasskeyRename(id int64) string {
	return AccountPasskeys + "/" + strconv.FormatInt(id, 10) + "/rename"
}

// AccountPasskeyRemove removes a passkey.
func AccountPasskeyRemove(id int64) string {
	return AccountPasskeys + "/" + strconv.FormatInt(id, 10) + "/remove"
}
