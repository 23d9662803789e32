package keys

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"keydesk/models/input"
)

// Permission is what a restricted key may do. A key with full access (not
// Restricted) may do everything.
type Permission string

// Permissions a restricted key may hold.
const (
	PermProgramRead  Permission = "program:read"
	PermMembersRead  Permission = "members:read"
	PermMembersWrite Permission = "members:write"
)

// AllPermissions lists the permissions in the order the console shows them.
var AllPermissions = []Permission{PermProgramRead, PermMembersRead, PermMembersWrite}

// Label is the permission as the console and the API's errors name it.
func (p Permission) Label() string {
	switch p {
	case PermProgramRead:
		return "Program: read"
	case PermMembersRead:
		return "Members: read"
	case PermMembersWrite:
		return "Members: write"
	}
	return string(p)
}

// MaxAllowedAddresses bounds a key's allowed IP addresses.
const MaxAllowedAddresses = 50

// Expires choices of the Generate dialog.
const (
	ExpiryNever  = "never"
	Expiry7Days  = "7d"
	Expiry30Days = "30d"
	Expiry90Days = "90d"
	Expiry1Year  = "1y"
	ExpiryCustom = "custom"
	// ExpiryAt is an exact instant (RFC 3339 in ExpiryDate): the
	// management API's expires_at.
	ExpiryAt = "at"
)

// ExpiryChoices are the Expires options in order, with their labels.
var ExpiryChoices = []struct{ Value, Label string }{
	{ExpiryNever, "Never"}, {Expiry7Days, "7 days"}, {Expiry30Days, "30 days"},
	{Expiry90Days, "90 days"}, {Expiry1Year, "1 year"}, {ExpiryCustom, "Custom date"},
}

// MaxKeyLifetimeChoices are the days a program may cap new keys' lifetime
// at (0: no maximum).
var MaxKeyLifetimeChoices = []int{0, 7, 30, 90, 365}

// RollOverlaps are the overlaps a roll offers ("Old key stops working").
var RollOverlaps = []struct {
	Value string
	Label string
	After time.Duration
}{
	{"now", "Now", 0}, {"1h", "In 1 hour", time.Hour}, {"24h", "In 24 hours", 24 * time.Hour}, {"7d", "In 7 days", 7 * 24 * time.Hour},
}

// RollOverlap is the duration of the overlap a roll's choice names.
func RollOverlap(choice string) (time.Duration, bool) {
	for _, o := range RollOverlaps {
		if o.Value == choice {
			return o.After, true
		}
	}
	return 0, false
}

// Errors of the lifecycle.
var (
	ErrKeyInactive = errors.New("keys: the API key is inactive")
	ErrNoOldKey    = errors.New("keys: the API key has no old key working")
)

// resolveExpiry turns the Expires choice into the instant the key stops
// working (nil: never), refusing a custom date in the past and, when the
// program caps key lifetime at maxDays, a key that would outlive it. A
// custom date means the whole day, UTC: the key stops at its end.
func resolveExpiry(now time.Time, choice, date string, maxDays int) (*time.Time, error) {
	var at time.Time
	switch choice {
	case "", ExpiryNever:
	case Expiry7Days:
		at = now.AddDate(0, 0, 7)
	case Expiry30Days:
		at = now.AddDate(0, 0, 30)
	case Expiry90Days:
		at = now.AddDate(0, 0, 90)
	case Expiry1Year:
		at = now.AddDate(1, 0, 0)
	case ExpiryCustom:
		// The words fit the browser's date picker, whatever format it
		// shows: an empty field or one it could not read.
		date = strings.TrimSpace(date)
		if date == "" {
			return nil, input.ValidationError{"expiry_date": "Choose the expiry date."}
		}
		d, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return nil, input.ValidationError{"expiry_date": "Choose a valid expiry date."}
		}
		at = d.AddDate(0, 0, 1)
		if !at.After(now) {
			return nil, input.ValidationError{"expiry_date": "The expiry date is in the past. Choose today or a later date."}
		}
	case ExpiryAt:
		d, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(date))
		if err != nil {
			return nil, input.ValidationError{"expiry_date": "Enter the expiry as an RFC 3339 time."}
		}
		at = d
		if !at.After(now) {
			return nil, input.ValidationError{"expiry_date": "The expiry is in the past. Choose a later time."}
		}
	default:
		return nil, input.ValidationError{"expiry": "Choose when the key expires."}
	}
	if maxDays > 0 {
		limit := now.AddDate(0, 0, maxDays)
		if at.IsZero() || at.After(limit) {
			field := "expiry"
			if choice == ExpiryCustom || choice == ExpiryAt {
				field = "expiry_date"
			}
			return nil, input.ValidationError{field: fmt.Sprintf("This program's keys may live at most %d days (Settings » Maximum key lifetime). Choose an earlier expiry.", maxDays)}
		}
	}
	if at.IsZero() {
		return nil, nil
	}
	at = at.UTC()
	return &at, nil
}

// AccessInput is what the Edit dialog says of a key's access: full access
// or the listed permissions, and the addresses it may be used from.
type AccessInput struct {
	Restricted  bool
	Permissions []string
	AllowedIPs  string
}

// access is AccessInput checked and in the columns' form.
type access struct {
	restricted  bool
	permissions string
	allowedIPs  string
}

func (in AccessInput) validate() (access, error) {
	errs := input.ValidationError{}
	var perms []string
	for _, p := range AllPermissions {
		if slices.Contains(in.Permissions, string(p)) {
			perms = append(perms, string(p))
		}
	}
	for _, p := range in.Permissions {
		if !slices.Contains(AllPermissions, Permission(p)) {
			errs["permissions"] = "Choose permissions from the list."
		}
	}
	if !in.Restricted {
		perms = nil
	}
	prefixes, err := ParseAllowedIPs(in.AllowedIPs)
	if err != "" {
		errs["allowed_ips"] = err
	}
	if len(errs) > 0 {
		return access{}, errs
	}
	return access{restricted: in.Restricted, permissions: strings.Join(perms, " "), allowedIPs: FormatAllowedIPs(prefixes)}, nil
}

// AccessRisks says how an Edit would break calls that work today: a
// Restricted key left with no permission refuses every call, and an
// allowlist that no longer admits addr (the editing admin's own address,
// the likeliest to be calling) refuses calls from there. Input that does
// not validate has no risks here: Update reports what is wrong with it.
func AccessRisks(current APIKey, in AccessInput, addr string) (noPermissions, excludesAddr bool) {
	acc, err := in.validate()
	if err != nil {
		return false, false
	}
	noPermissions = acc.restricted && acc.permissions == "" && !(current.Restricted && current.Permissions == "")
	a, perr := netip.ParseAddr(addr)
	if perr != nil {
		return noPermissions, false
	}
	a = a.Unmap().WithZone("")
	admits := func(list string) bool {
		prefixes, _ := ParseAllowedIPs(list)
		if len(prefixes) == 0 {
			return true
		}
		return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	excludesAddr = !admits(acc.allowedIPs) && admits(current.AllowedIPs)
	return noPermissions, excludesAddr
}

// ParseAllowedIPs reads allowed addresses, one IP address or CIDR a line
// (commas and spaces separate too), IPv4 or IPv6; a bare address is a
// single-address prefix. It returns what is wrong as a sentence.
func ParseAllowedIPs(text string) ([]netip.Prefix, string) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' })
	var out []netip.Prefix
	for _, f := range fields {
		var p netip.Prefix
		if strings.Contains(f, "/") {
			pp, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Sprintf("“%s” is not an IP address or CIDR range (for example 203.0.113.7, 198.51.100.0/24 or 2001:db8::/32).", truncate(f))
			}
			if pp.Masked() != pp {
				return nil, fmt.Sprintf("“%s” has bits set beyond its prefix length; did you mean %s?", truncate(f), pp.Masked())
			}
			p = pp
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Sprintf("“%s” is not an IP address or CIDR range (for example 203.0.113.7, 198.51.100.0/24 or 2001:db8::/32).", truncate(f))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmappedBits(p))
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) > MaxAllowedAddresses {
		return nil, fmt.Sprintf("Enter at most %d addresses or ranges.", MaxAllowedAddresses)
	}
	return out, ""
}

// unmappedBits is how many prefix bits an IPv4-mapped IPv6 prefix loses
// when written as IPv4.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return 96
	}
	return 0
}

func truncate(s string) string {
	if r := []rune(s); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return s
}

// FormatAllowedIPs writes prefixes one a line, single addresses without
// their /32 or /128.
func FormatAllowedIPs(prefixes []netip.Prefix) string {
	lines := make([]string, len(prefixes))
	for i, p := range prefixes {
		if p.IsSingleIP() {
			lines[i] = p.Addr().String()
		} else {
			lines[i] = p.String()
		}
	}
	return strings.Join(lines, "\n")
}

// PermissionList is the key's permissions (nil with full access).
func (k APIKey) PermissionList() []Permission {
	if !k.Restricted {
		return nil
	}
	var out []Permission
	for _, f := range strings.Fields(k.Permissions) {
		out = append(out, Permission(f))
	}
	return out
}

// HasPermission reports whether the key's permissions include p.
func (k APIKey) HasPermission(p Permission) bool {
	return !k.Restricted || slices.Contains(k.PermissionList(), p)
}

// AllowedIPList is the key's allowed addresses, one an entry.
func (k APIKey) AllowedIPList() []string {
	return strings.Fields(k.AllowedIPs)
}

// Expired reports whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)
}

// ExpiresSoon reports whether the key expires within 7 days of now.
func (k APIKey) ExpiresSoon(now time.Time) bool {
	return k.ExpiresAt != nil && !k.Expired(now) && k.ExpiresAt.Sub(now) <= 7*24*time.Hour
}

// OldKeyWorks reports whether a roll's old secret still authenticates at now.
func (k APIKey) OldKeyWorks(now time.Time) bool {
	return k.OldDigest != nil && k.OldExpiresAt != nil && now.Before(*k.OldExpiresAt)
}

func accessDetails(k *APIKey) map[string]any {
	perms := "full access"
	if k.Restricted {
		labels := []string{}
		for _, p := range k.PermissionList() {
			labels = append(labels, p.Label())
		}
		perms = "restricted: " + strings.Join(labels, ", ")
		if len(labels) == 0 {
			perms = "restricted: none"
		}
	}
	addrs := "any"
	if k.AllowedIPs != "" {
		addrs = strings.Join(k.AllowedIPList(), ", ")
	}
	return map[string]any{"permissions": perms, "allowed_ips": addrs}
}
