package audit

// Actions of passkeys on /account.
const (
	ActionPasskeyAdded       = "admin.passkey_added"
	ActionPasskeyRenamed     = "admin.passkey_renamed"
	ActionPasskeyRemoved     = "admin.passkey_removed"
	ActionPasskeyOnlyChanged = "admin.passkey_only_changed"
)

func init() {
	Actions = append(Actions, ActionPasskeyAdded, ActionPasskeyRenamed, ActionPasskeyRemoved, ActionPasskeyOnlyChanged)
}
