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

// UITokenLeeway is the clock skew allowed on a UI token's exp, nbf and iat,
// and beyond the maximum lifetime.
const UITokenLeeway = 30 * time.Second

// DefaultUITokenMaxLifetime is how far ahead a UI token's exp may lie when
// no other maximum is configured (KEYDESK_JWT_MAX_LIFETIME).
const DefaultUITokenMaxLifetime = time.Hour

// maxUITokenLength refuses absurd tokens before parsing them.
const maxUITokenLength = 4096

// UIClaims are the claims of a UI API token: sub is the signing key's
// identifier (absent for the program's default key), member_id the member
// the token acts for. The time claims are decoded strictly (NumericDate):
// they shadow RegisteredClaims' own, which would accept a quoted number.
type UIClaims struct {
	MemberID  string       `json:"member_id"`
	ExpiresAt *NumericDate `json:"exp,omitempty"`
	IssuedAt  *NumericDate `json:"iat,omitempty"`
	NotBefore *NumericDate `json:"nbf,omitempty"`
	jwt.RegisteredClaims
}

// GetExpirationTime returns the strictly decoded exp (jwt.Claims).
func (c UIClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.jwt(), nil }

// GetIssuedAt returns the strictly decoded iat (jwt.Claims).
func (c UIClaims) GetIssuedAt() (*jwt.NumericDate, error) { return c.IssuedAt.jwt(), nil }

// GetNotBefore returns the strictly decoded nbf (jwt.Claims).
func (c UIClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.NotBefore.jwt(), nil }

// NumericDate is a JWT time claim that must be a JSON number, as RFC 7519
// (section 2, NumericDate) says; jwt.NumericDate alone also accepts a
// string such as "1700000000".
type NumericDate struct {
	jwt.NumericDate
}

var errNotNumericDate = errors.New("a time claim must be a JSON number")

// UnmarshalJSON accepts a JSON number only.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) {
		return errNotNumericDate
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *NumericDate) jwt() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// ParseUIToken verifies a UI token: HS256 only, signed with the key that
// keyFor returns for the token's sub, exp required and a number, exp no
// further ahead than maxLifetime (DefaultUITokenMaxLifetime when not
// positive), iat (when present) not in the future, all with UITokenLeeway,
// and member_id a valid member id. Any failure is ErrUnauthorized, except
// an error of keyFor other than ErrUnauthorized, which is returned as is.
//
// The time claims are checked on the still untrusted claims before keyFor
// is asked (a refusal needs no trust), so a token refused for its times
// costs no key lookup; the validator checks them again once signed.
func ParseUIToken(token string, maxLifetime time.Duration, keyFor func(sub string) ([]byte, error), now func() time.Time) (*UIClaims, error) {
	return parseUIToken(token, maxLifetime, func(sub string) (any, error) {
		secret, err := keyFor(sub)
		if err != nil {
			return nil, err
		}
		return secret, nil
	}, now)
}

// parseUIToken is ParseUIToken with keyFor returning the verification key
// as jwt takes it: one []byte, or a jwt.VerificationKeySet during a roll's
// overlap, when a token signed with either secret is good.
func parseUIToken(token string, maxLifetime time.Duration, keyFor func(sub string) (any, error), now func() time.Time) (*UIClaims, error) {
	if token == "" || len(token) > maxUITokenLength {
		return nil, ErrUnauthorized
	}
	if maxLifetime <= 0 {
		maxLifetime = DefaultUITokenMaxLifetime
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(UITokenLeeway),
		jwt.WithTimeFunc(now),
	)
	claims := &UIClaims{}
	var lookupErr error
	_, err := parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		if !claims.timesAcceptable(now(), maxLifetime) {
			return nil, ErrUnauthorized
		}
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
	if err != nil || !members.ValidMemberID(claims.MemberID) || !claims.timesAcceptable(now(), maxLifetime) {
		return nil, ErrUnauthorized
	}
	return claims, nil
}

// timesAcceptable reports whether exp is present, not past and no further
// ahead than maxLifetime, and iat (when present) not in the future: a token
// "issued" later than now comes from a clock, or a forger, ahead of ours.
// All with UITokenLeeway; nbf is left to the validator.
func (c *UIClaims) timesAcceptable(now time.Time, maxLifetime time.Duration) bool {
	if c.ExpiresAt == nil {
		return false
	}
	exp := c.ExpiresAt.Time
	if !now.Before(exp.Add(UITokenLeeway)) || exp.After(now.Add(maxLifetime+UITokenLeeway)) {
		return false
	}
	if c.IssuedAt != nil && c.IssuedAt.After(now.Add(UITokenLeeway)) {
		return false
	}
	return true
}

// VerifyUIToken authenticates a UI API call: the token's sub (or, without
// one, the program's default key) selects a key of the program named by
// partnerID, and the token must be signed with that key's string.
func (v *Verifier) VerifyUIToken(ctx context.Context, partnerID, token string) (*VerifiedKey, *UIClaims, error) {
	if !keys.IsPartnerID(partnerID) {
		return nil, nil, ErrUnauthorized
	}
	var key, expired *VerifiedKey
	claims, err := parseUIToken(token, v.opts.UITokenMaxLifetime, func(sub string) (any, error) {
		k, err := v.bySubject(ctx, partnerID, sub)
		if err != nil {
			return nil, err
		}
		if k == nil {
			return nil, ErrUnauthorized
		}
		now := v.now()
		if k.expiredAt(now) {
			expired = k
			return nil, ErrUnauthorized
		}
		secret, err := v.store.Unseal(k.credential)
		if err != nil {
			return nil, fmt.Errorf("verifier: unable to open API key %s: %w", k.Identifier, err)
		}
		key = k
		c := k.credential
		if c.OldSealed == nil || c.OldExpiresAt == nil || !now.Before(*c.OldExpiresAt) {
			return []byte(secret), nil
		}
		// During a roll's overlap a token signed with the old secret is
		// good too.
		old, err := v.store.UnsealOld(c)
		if err != nil {
			return nil, fmt.Errorf("verifier: unable to open the old secret of API key %s: %w", k.Identifier, err)
		}
		return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{[]byte(secret), []byte(old)}}, nil
	}, v.now)
	if expired != nil && errors.Is(err, ErrUnauthorized) {
		return nil, nil, expiredFailure(expired)
	}
	if err != nil {
		return nil, nil, err
	}
	v.recordUse(key, v.now())
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
	k := verifiedKey(row, row.Digest)
	v.remember(gen, entry.digest, k)
	return k, nil
}
