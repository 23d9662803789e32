package audit

// Actions of the key lifecycle (issue 12): changes of a key's expiry,
// permissions or allowed addresses (before/after), rolls, the end of a
// roll's overlap, and a program's maximum key lifetime.
const (
	ActionKeyUpdated         = "api_key.updated"
	ActionKeyRolled          = "api_key.rolled"
	ActionKeyOldExpired      = "api_key.old_key_expired"
	ActionKeyLifetimeChanged = "program.max_key_lifetime_changed"
)

func init() {
	Actions = append(Actions, ActionKeyUpdated, ActionKeyRolled, ActionKeyOldExpired, ActionKeyLifetimeChanged)
}
