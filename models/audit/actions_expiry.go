package audit

// Actions of the expiry sweep (issue 14): a key's expiry is 7 days or
// 1 day away, or has come. The system is the actor.
const (
	ActionKeyExpiring = "api_key.expiring"
	ActionKeyExpired  = "api_key.expired"
)

func init() {
	Actions = append(Actions, ActionKeyExpiring, ActionKeyExpired)
}
