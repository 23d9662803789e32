package audit

// ActionMasterKeyRotated records that a batch of a program's API keys was
// re-sealed under the current master key (counts only, never a secret).
const ActionMasterKeyRotated = "master_key.rotated"

func init() {
	Actions = append(Actions, ActionMasterKeyRotated)
}
