package notify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keydesk/models/outbox"
)

func TestAllowedAddress(t *testing.T) {
	refused := []string{"127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "fd00:ec2::254", "0.0.0.0", "::", "100.64.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"224.0.0.1", "255.255.255.255", "64:ff9b::7f00:1"}
	for _, s := range refused {
		if AllowedAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s allowed", s)
		}
	}
	for _, s := range []string{"93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"} {
		if !AllowedAddress(netip.MustParseAddr(s)) {
			t.Errorf("%s refused", s)
		}
	}
}

func claimFor(url string) *outbox.Claim {
	return &outbox.Claim{Delivery: outbox.Delivery{ID: 1, MessageID: "msg_test", Payload: `{"type":"webhook.test"}`},
		URL: url, Secrets: []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
}

// TestSSRFGuardRefusesLoopbackAfterResolution: "localhost" resolves to
// loopback; the guard refuses it at dial time and the receiver is never hit.
// With allow-private the same delivery goes through.
func TestSSRFGuardRefusesLoopbackAfterResolution(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	res := Send(context.Background(), NewHTTPClient(false, 2*time.Second), claimFor(url), time.Now())
	if res.OK || !strings.Contains(res.Error, "refused") || hits.Load() != 0 {
		t.Fatalf("loopback not refused: %+v, %d hits", res, hits.Load())
	}
	res = Send(context.Background(), NewHTTPClient(true, 2*time.Second), claimFor(url), time.Now())
	if !res.OK || hits.Load() != 1 {
		t.Fatalf("allow-private delivery: %+v", res)
	}
}

// TestSSRFGuardRefusesARedirectToLoopback: a first hop that the guard lets
// through (standing in for a public receiver) redirects to a loopback
// server; the redirect's connection is refused and that server never hit.
func TestSSRFGuardRefusesARedirectToLoopback(t *testing.T) {
	var internalHits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { internalHits.Add(1) }))
	defer internal.Close()
	public := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/metadata", http.StatusTemporaryRedirect)
	}))
	defer public.Close()
	publicAddr := strings.TrimPrefix(public.URL, "http://")
	client := NewHTTPClient(false, 2*time.Second)
	// The guard as production runs it, except that it treats the first
	// hop's exact address and port as public.
	client.Transport.(*http.Transport).DialContext = (&netDialer{control: func(network, address string, c syscall.RawConn) error {
		if address == publicAddr {
			return nil
		}
		return guardControl(network, address, c)
	}}).DialContext
	res := Send(context.Background(), client, claimFor(public.URL), time.Now())
	if res.OK || !strings.Contains(res.Error, "refused") || internalHits.Load() != 0 {
		t.Fatalf("redirect to loopback not refused: %+v, %d hits", res, internalHits.Load())
	}
}

type netDialer struct {
	control func(network, address string, c syscall.RawConn) error
}

func (d *netDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{Timeout: 2 * time.Second, Control: d.control}).DialContext(ctx, network, addr)
}
