package outbox_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"keydesk/models/outbox"
)

// fakeResolver answers names from a table; others do not resolve.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	answers, ok := r[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []netip.Addr
	for _, a := range answers {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

// TestTargetProblem: IP literals (IPv4, IPv6, IPv4-mapped), loopback names
// and names with any non-public answer are refused with a message that
// names the address and its class; public targets and names that do not
// resolve now (the dial-time guard still checks them) pass.
func TestTargetProblem(t *testing.T) {
	r := fakeResolver{
		"hooks.example.com":    {"93.184.215.14"},
		"internal.example.com": {"10.1.2.3"},
		"mixed.example.com":    {"93.184.215.14", "::1"},
		"mapped.example.com":   {"::ffff:169.254.169.254"},
	}
	refused := map[string]string{
		"http://127.0.0.1:8080/hook":        "127.0.0.1 is a loopback address",
		"http://[::1]/hook":                 "::1 is a loopback address",
		"http://0.0.0.0/hook":               "0.0.0.0 is the unspecified address",
		"http://[::]/hook":                  ":: is the unspecified address",
		"http://169.254.169.254/latest":     "169.254.169.254 is a link-local address (the cloud metadata service)",
		"http://[fe80::1%25eth0]/hook":      "is a link-local address",
		"http://10.0.0.1/hook":              "10.0.0.1 is a private address",
		"https://192.168.1.20/hook":         "192.168.1.20 is a private address",
		"http://[fd00::1]/hook":             "fd00::1 is a private address",
		"http://[::ffff:127.0.0.1]/hook":    "::ffff:127.0.0.1 is a loopback address",
		"http://224.0.0.1/hook":             "224.0.0.1 is a multicast address",
		"http://100.64.0.1/hook":            "100.64.0.1 is a reserved address",
		"http://localhost:9000/hook":        "localhost is this machine",
		"http://LOCALHOST./hook":            "localhost is this machine",
		"http://api.localhost/hook":         "api.localhost is this machine",
		"https://internal.example.com/hook": "internal.example.com resolves to a private address",
		"https://mixed.example.com/hook":    "mixed.example.com resolves to a loopback address",
		"https://mapped.example.com/hook":   "mapped.example.com resolves to a link-local address (the cloud metadata service)",
		"http://2130706433/hook":            "Write the address in the usual form",
		"http://0x7f.1/hook":                "Write the address in the usual form",
	}
	for u, want := range refused {
		got := outbox.TargetProblem(t.Context(), r, u)
		if !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to say %q", u, got, want)
		}
		if !strings.HasPrefix(want, "Write") && !strings.HasPrefix(got, "Webhook URLs must point to a public address: ") {
			t.Errorf("%s: %q does not say what is expected", u, got)
		}
	}
	for _, u := range []string{"https://93.184.215.14/hook", "https://[2606:4700:4700::1111]/hook", "https://hooks.example.com/keydesk",
		"https://not-yet-in-dns.example.com/hook", "https://1password.example.com/hook"} {
		if got := outbox.TargetProblem(t.Context(), r, u); got != "" {
			t.Errorf("%s refused: %q", u, got)
		}
	}
}
