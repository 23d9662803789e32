package accounts

// Limits the console puts into words and into its forms' maxlength, so
// they follow the rules instead of repeating them.
const (
	// MaxEmailLength bounds an admin's email address (RFC 5321's limit).
	MaxEmailLength = 254
	// ThrottleWindow is how long failed sign-ins count towards the
	// throttle.
	ThrottleWindow = throttleWindow
	// ReauthLockDuration is how long re-authentication stays locked after
	// too many wrong passwords.
	ReauthLockDuration = reauthLockDuration
)
