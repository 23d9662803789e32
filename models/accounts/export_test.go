package accounts

import (
	"strings"
	"sync"
	"testing"
)

// RecordPasswordComparisons makes Authenticate report the argon2
// parameters (the hash up to its salt) of every password comparison.
func RecordPasswordComparisons(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var params []string
	original := comparePassword
	comparePassword = func(password, hash string) (bool, error) {
		mu.Lock()
		params = append(params, hash[:strings.LastIndex(hash[:strings.LastIndex(hash, "$")], "$")])
		mu.Unlock()
		return original(password, hash)
	}
	t.Cleanup(func() { comparePassword = original })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := params
		params = nil
		return out
	}
}
