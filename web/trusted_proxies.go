package web

import (
	"net"
	"net/netip"

	"github.com/labstack/echo/v4"
)

// ipExtractor decides a request's client address. Without trusted proxies
// only the connection's address counts. With them, X-Forwarded-For is read
// from the right: the first hop that is not a trusted proxy (the
// connection's own address included) is the client, so a client cannot
// choose its address by sending the header itself.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		_, n, _ := net.ParseCIDR(p.String())
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
