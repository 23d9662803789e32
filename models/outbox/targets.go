package outbox

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// blockedPrefixes are ranges beyond net/netip's own classes that a webhook
// must never reach: "this network", carrier-grade NAT, IETF protocol
// assignments, benchmarking, the reserved block, and NAT64 of the same.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// metadataService is the cloud providers' instance metadata address.
var metadataService = netip.AddrFrom4([4]byte{169, 254, 169, 254})

// AllowedAddress reports whether a webhook may connect to ip: a public
// unicast address, not loopback, private (RFC 1918, fc00::/7), link-local
// (169.254/16 with the cloud metadata service, fe80::/10), multicast,
// unspecified or reserved. IPv4-mapped IPv6 addresses are judged as IPv4.
func AllowedAddress(ip netip.Addr) bool {
	return addressClass(ip) == ""
}

// addressClass names why ip is no webhook target ("a loopback address"),
// or is empty for a public unicast address.
func addressClass(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "not a valid address"
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate():
		return "a private address"
	case ip == metadataService:
		return "a link-local address (the cloud metadata service)"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsLinkLocalMulticast(), ip.IsInterfaceLocalMulticast(), ip.IsMulticast():
		return "a multicast address"
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return "a reserved address"
		}
	}
	return ""
}

// Resolver looks names up (net.DefaultResolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// TargetLookupTimeout bounds the name lookup of TargetProblem.
const TargetLookupTimeout = 2 * time.Second

// targetRefusal starts every refusal of a non-public webhook target.
const targetRefusal = "Webhook URLs must point to a public address: "

// TargetProblem says why a webhook URL must be refused unless private
// targets are allowed (KEYDESK_WEBHOOK_ALLOW_PRIVATE), or returns "". An
// IP literal is judged as it is; localhost and names under .localhost are
// refused by name; any other name is looked up (for at most
// TargetLookupTimeout) and refused if any of its addresses is not public.
// A name that does not resolve now passes: the delivery client checks the
// address it dials, every time, which also catches a name whose answer
// changes later.
func TargetProblem(ctx context.Context, r Resolver, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if ip, err := netip.ParseAddr(host); err == nil {
		if class := addressClass(ip); class != "" {
			return targetRefusal + host + " is " + class + "."
		}
		return ""
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return targetRefusal + host + " is this machine (a loopback name)."
	}
	if numericHost(host) {
		return "Write the address in the usual form, e.g. https://203.0.113.7/keydesk, or use a name."
	}
	ctx, cancel := context.WithTimeout(ctx, TargetLookupTimeout)
	defer cancel()
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return ""
	}
	// The message names the class, not the address: the admins of one
	// program learn no more of the operator's internal DNS than that.
	for _, ip := range addrs {
		if class := addressClass(ip); class != "" {
			return targetRefusal + host + " resolves to " + class + "."
		}
	}
	return ""
}

// numericHost reports whether a host that is no IP literal still reads as
// an address in a legacy form some resolvers accept ("2130706433",
// "0x7f.1", "127.1"): every label digits or 0x-hex.
func numericHost(host string) bool {
	for _, label := range strings.Split(host, ".") {
		digits := strings.TrimPrefix(label, "0x")
		if digits == "" {
			return false
		}
		for _, c := range digits {
			isHex := c >= 'a' && c <= 'f'
			if !(c >= '0' && c <= '9') && !(isHex && strings.HasPrefix(label, "0x")) {
				return false
			}
		}
	}
	return true
}
