package paths

// Leak response under General » Settings: what a leak does to a key, and
// turning the legacy default key back on after a leak inactivated it.
const (
	LeakResponse       = Settings + "/leak-response"
	DefaultKeyActivate = Settings + "/default-key/activate"
)
