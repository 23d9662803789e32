package apiauth

import (
	"errors"
	"time"

	"keydesk/models/metrics"
)

// AuthFailure is a refused credential with what the server may count about
// it: the outcome (metrics.Outcome*) and, when the credential names a key
// that exists, that key. It is ErrUnauthorized for every caller
// (errors.Is), and callers still answer all failures alike.
type AuthFailure struct {
	Outcome   string
	KeyID     int64 // 0 when no key can be attributed
	ProgramID int64
	// OldSecret: the credential is a roll's old secret whose overlap has
	// ended (Outcome is expired).
	OldSecret bool
}

func (f *AuthFailure) Error() string { return ErrUnauthorized.Error() }

// Is makes every AuthFailure ErrUnauthorized, and an expired one
// ErrExpired too.
func (f *AuthFailure) Is(target error) bool {
	return target == ErrUnauthorized || (target == ErrExpired && f.Outcome == metrics.OutcomeExpired)
}

// expiredFailure is the refusal of key k used at or after its expiry,
// counted against it.
func expiredFailure(k *VerifiedKey) *AuthFailure {
	return &AuthFailure{Outcome: metrics.OutcomeExpired, KeyID: k.KeyID, ProgramID: k.ProgramID, OldSecret: k.oldSecret}
}

// FailureOf is the failure behind err: its outcome (invalid when err says
// no more) and the key it can be attributed to.
func FailureOf(err error) AuthFailure {
	var f *AuthFailure
	if errors.As(err, &f) {
		return *f
	}
	return AuthFailure{Outcome: metrics.OutcomeInvalid}
}

// keyRef names a key that has a digest but does not authenticate
// (inactive), so its failed calls can be counted against it.
type keyRef struct {
	keyID, programID int64
	partnerID        string
	// retired: the digest is a secret of the key that no longer works
	// (keys.RetiredSecretByDigest), not its current one.
	retired bool
}

type negativeEntry struct {
	expires  time.Time
	inactive *keyRef
}
