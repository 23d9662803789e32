package apiauth

import (
	"context"
	"errors"
	"fmt"
	"keydesk/models/keys"
	"keydesk/models/members"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// UITokenLeeway is the clock skew allowed on a UI token's exp (and nbf).
const UITokenLeeway = 30 * time.Second

// maxUITokenLength refuses absurd tokens before parsing them.
const maxUITokenLength = 4096

// UIClaims are the claims of a UI API token: sub is the signing key's
// identifier (absent for the program's default key), member_id the member
// the token acts for.
type UIClaims struct {
	MemberID string `json:"member_id"`
	jwt.RegisteredClaims
}

// ParseUIToken verifies a UI token: HS256 only, signed with the key that
// keyFor returns for the token's sub, exp required (with UITokenLeeway),
// member_id a valid member id. Any failure is ErrUnauthorized, except an
// error of keyFor other than ErrUnauthorized, which is returned as is.
func ParseUIToken(token string, keyFor func(sub string) ([]byte, error), now func() time.Time) (*UIClaims, error) {
	if token == "" || len(token) > maxUITokenLength {
		return nil, ErrUnauthorized
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(UITokenLeeway),
		jwt.WithTimeFunc(now),
	)
	claims := &UIClaims{}
	var lookupErr error
	_, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		// The method is already checked (HS256); the claims are parsed but
		// not yet trusted: sub only selects which key must have signed.
		secret, err := keyFor(claims.Subject)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		return secret, nil
	})
	if lookupErr != nil && !errors.Is(lookupErr, ErrUnauthorized) {
		return nil, lookupErr
	}
	if err != nil || !members.ValidMemberID(claims.MemberID) {
		return nil, ErrUnauthorized
	}
	return claims, nil
}

// VerifyUIToken authenticates a UI API call: the token's sub (or, without
// one, the program's default key) selects a key of the program named by
// partnerID, and the token must be signed with that key's string.
func (v *Verifier) VerifyUIToken(ctx context.Context, partnerID, token string) (*VerifiedKey, *UIClaims, error) {
	if !keys.IsPartnerID(partnerID) {
		return nil, nil, ErrUnauthorized
	}
	var key *VerifiedKey
	claims, err := ParseUIToken(token, func(sub string) ([]byte, error) {
		k, err := v.bySubject(ctx, partnerID, sub)
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, ErrUnauthorized
		}
		secret, err := v.store.Unseal(k.credential)
		if err != nil {
			return nil, fmt.Errorf("verifier: unable to open API key %s: %w", k.Identifier, err)
		}
		key = k
		return []byte(secret), nil
	}, v.now)
	if err != nil {
		return nil, nil, err
	}
	v.recordUse(key)
	return key, claims, nil
}

// bySubject returns the active key of the program that sub names (the
// default key when sub is empty), or nil.
func (v *Verifier) bySubject(ctx context.Context, partnerID, sub string) (*VerifiedKey, error) {
	if sub != "" && !keys.IsIdentifier(sub) {
		return nil, nil
	}
	sk := subjectKey{partnerID, sub}
	now := v.now()
	v.mu.RLock()
	e, ok := v.subjects[sk]
	hit := ok && v.caching && now.Before(e.expires)
	gen := v.gen
	v.mu.RUnlock()
	if hit {
		if !e.found {
			return nil, nil
		}
		return v.byDigest(ctx, e.digest)
	}

	// The identifier (or default flag) of a key never changes, so the
	// subject → digest mapping needs no invalidation: activity is checked
	// through the digest entry, which revocation does invalidate.
	row, err := v.store.CredentialBySubject(ctx, partnerID, sub)
	if err != nil {
		return nil, fmt.Errorf("verifier: unable to load API key by identifier: %w", err)
	}
	entry := subjectEntry{found: row != nil}
	if row != nil {
		copy(entry.digest[:], row.Digest)
		entry.expires = now.Add(v.opts.TTL)
	} else {
		entry.expires = now.Add(v.opts.NegativeTTL)
	}
	v.mu.Lock()
	if v.caching && v.gen == gen {
		if len(v.subjects) >= v.opts.MaxEntries {
			evict(v.subjects, now, func(e subjectEntry) time.Time { return e.expires })
		}
		v.subjects[sk] = entry
	}
	v.mu.Unlock()
	if row == nil {
		return nil, nil
	}
	k := verifiedKey(row)
	v.remember(gen, entry.digest, k)
	return k, nil
}
