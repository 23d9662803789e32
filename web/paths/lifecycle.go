package paths

// The key lifecycle: roll a key, end a roll's overlap early, and the
// program's maximum key lifetime under Settings.
const (
	APIKeyRollRoute      = APIKeys + "/:id/roll"
	APIKeyExpireOldRoute = APIKeys + "/:id/expire-old"
	MaxKeyLifetime       = Settings + "/max-key-lifetime"
)

// APIKeyRoll opens (GET) and performs (POST) a roll.
func APIKeyRoll(id int64) string { return APIKeyAction(id, "roll") }

// APIKeyExpireOld confirms (GET) and ends (POST) a roll's overlap now.
func APIKeyExpireOld(id int64) string { return APIKeyAction(id, "expire-old") }
