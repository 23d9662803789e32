package database

import "time"

// Clock tells the time. keydesk has one, injected from main (tests replace
// it); every package that needs the time reads the Clock it was given.
type Clock func() time.Time

// SystemClock is the wall clock in UTC at microsecond precision, what both
// databases keep, so a time read back equals the time written.
func SystemClock() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Fixed returns a Clock that reads now() normalised like SystemClock; tests
// use it to move time.
func Fixed(now func() time.Time) Clock {
	return func() time.Time { return now().UTC().Truncate(time.Microsecond) }
}
