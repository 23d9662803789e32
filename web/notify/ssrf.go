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

	"keydesk/models/outbox"
)

// ErrForbiddenAddress is a webhook target refused by the SSRF guard.
var ErrForbiddenAddress = errors.New("address not allowed for webhooks")

// AllowedAddress reports whether a webhook may connect to ip: the outbox's
// rule, the same one the console applies when an endpoint is saved.
func AllowedAddress(ip netip.Addr) bool { return outbox.AllowedAddress(ip) }

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
