// Package notify delivers the events of the outbox: signed webhooks
// (Standard Webhooks) through an HTTP client that refuses private,
// loopback, link-local and metadata addresses after DNS resolution and on
// every redirect.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is a webhook target refused by the SSRF guard.
var ErrForbiddenAddress = errors.New("address not allowed for webhooks")

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

// AllowedAddress reports whether a webhook may connect to ip: a public
// unicast address, not loopback, private (RFC 1918, fc00::/7), link-local
// (169.254/16 with the cloud metadata service, fe80::/10), multicast,
// unspecified or reserved.
func AllowedAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// guardControl runs after DNS resolution, on the very address about to be
// dialled (so a name that resolves to 127.0.0.1, or rebinds between checks,
// is caught), for the first request and every redirect alike.
func guardControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
	}
	if !AllowedAddress(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenAddress, ap.Addr())
	}
	return nil
}

// MaxRedirects bounds the redirects a delivery follows.
const MaxRedirects = 5

// NewHTTPClient returns the webhook client: no proxy from the environment,
// the SSRF guard on every connection unless allowPrivate, at most
// MaxRedirects redirects, and timeout for a whole attempt.
func NewHTTPClient(allowPrivate bool, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = guardControl
	}
	transport := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("stopped after %d redirects", MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("redirect to a %s URL refused", req.URL.Scheme)
			}
			return nil
		},
	}
}
