package apiauth

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"keydesk/models/keys"
)

// ErrExpired is a key (or a roll's old secret) used at or after the
// instant it stops working. It is ErrUnauthorized to every caller that
// asks errors.Is (the API answers 401 as for an inactive key); metrics may
// tell it apart.
var ErrExpired = fmt.Errorf("%w: the API key has expired", ErrUnauthorized)

// ErrForbidden is a call the key authenticates but may not make: outside
// its permissions or from an address it is not allowed from. The error is
// a *ForbiddenError saying which.
var ErrForbidden = errors.New("forbidden")

// ForbiddenError says why a call was forbidden: the missing permission, or
// that the client address is not among the key's allowed addresses.
type ForbiddenError struct {
	Permission keys.Permission // empty for an address refusal
	Address    string
}

func (e *ForbiddenError) Error() string {
	if e.Permission != "" {
		return "forbidden: the API key lacks the permission " + e.Permission.Label()
	}
	return "forbidden: the API key is not allowed from this address"
}

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

// Reason is the sentence the API's error body carries.
func (e *ForbiddenError) Reason() string {
	if e.Permission != "" {
		return "This API key does not have the permission " + e.Permission.Label() + " (" + string(e.Permission) + ")."
	}
	return "This API key may not be used from the IP address " + e.Address + " (the address keydesk saw for this call)."
}

type permSet uint8

func permBit(p keys.Permission) permSet {
	for i, q := range keys.AllPermissions {
		if q == p {
			return 1 << i
		}
	}
	return 0
}

// applyLifecycle copies what decides each call (expiry, permissions,
// allowed addresses) from the credential into the cached key, parsed once.
func applyLifecycle(k *VerifiedKey, c *keys.Credential, digest []byte) {
	if c.ExpiresAt != nil {
		k.ExpiresAt = *c.ExpiresAt
	}
	if c.MatchedOld(digest) {
		k.oldSecret = true
		if c.OldExpiresAt == nil {
			k.ExpiresAt = time.Unix(0, 0)
		} else if k.ExpiresAt.IsZero() || c.OldExpiresAt.Before(k.ExpiresAt) {
			k.ExpiresAt = *c.OldExpiresAt
		}
	}
	k.Restricted = c.Restricted
	for _, f := range strings.Fields(c.Permissions) {
		k.perms |= permBit(keys.Permission(f))
	}
	if c.AllowedIPs != "" {
		k.allowed, _ = keys.ParseAllowedIPs(c.AllowedIPs)
		if len(k.allowed) == 0 {
			// Stored but unreadable: allow nothing rather than everything.
			k.allowed = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}
		}
	}
}

func (k *VerifiedKey) expiredAt(now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

// Permit returns a *ForbiddenError when the key may not use permission p.
func (k *VerifiedKey) Permit(p keys.Permission) error {
	if k.Restricted && k.perms&permBit(p) == 0 {
		return &ForbiddenError{Permission: p}
	}
	return nil
}

// PermitAddress returns a *ForbiddenError when the key has allowed
// addresses and addr (the client address as the server's IP extractor
// decided it) is not among them.
func (k *VerifiedKey) PermitAddress(addr string) error {
	if len(k.allowed) == 0 {
		return nil
	}
	a, err := netip.ParseAddr(addr)
	if err == nil {
		a = a.Unmap().WithZone("")
		for _, p := range k.allowed {
			if p.Contains(a) {
				return nil
			}
		}
	}
	return &ForbiddenError{Address: addr}
}
