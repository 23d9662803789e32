package main

import (
	"fmt"
	"keydesk/models/keys"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attack runs one vegeta attack at maximum rate with a fixed pool of conns
// workers over conns keep-alive connections (so at most conns requests are
// in flight) and returns its metrics.
func attack(tr vegeta.Targeter, conns int, d time.Duration, name string) *vegeta.Metrics {
	// A zero Rate is vegeta's "as fast as the workers go".
	return attackAt(tr, conns, 0, d, name)
}

// attackAt is attack at a fixed rate (requests per second; 0 = maximum),
// still over at most conns connections.
func attackAt(tr vegeta.Targeter, conns, perSecond int, d time.Duration, name string) *vegeta.Metrics {
	return attackFrom(tr, conns, perSecond, d, name, nil)
}

// attackFrom is attackAt from a given loopback source address (nil: the
// default), so that per-address limits see distinct clients.
func attackFrom(tr vegeta.Targeter, conns, perSecond int, d time.Duration, name string, from net.IP) *vegeta.Metrics {
	a := vegeta.NewAttacker(attackOptions(conns, from)...)
	var m vegeta.Metrics
	for res := range a.Attack(tr, vegeta.Rate{Freq: perSecond, Per: time.Second}, d, name) {
		m.Add(res)
	}
	m.Close()
	return &m
}

// attackInto is attack that also adds every result to all.
func attackInto(tr vegeta.Targeter, conns int, d time.Duration, name string, all *vegeta.Metrics) *vegeta.Metrics {
	a := vegeta.NewAttacker(attackOptions(conns, nil)...)
	var m vegeta.Metrics
	for res := range a.Attack(tr, vegeta.Rate{}, d, name) {
		m.Add(res)
		all.Add(res)
	}
	m.Close()
	return &m
}

// attackOptions are every attack's: conns workers over conns keep-alive
// connections, from the given loopback source address (nil: the default).
func attackOptions(conns int, from net.IP) []func(*vegeta.Attacker) {
	opts := []func(*vegeta.Attacker){
		vegeta.Connections(conns),
		vegeta.MaxConnections(conns),
		vegeta.Workers(uint64(conns)),
		vegeta.MaxWorkers(uint64(conns)),
		vegeta.KeepAlive(true),
		vegeta.Timeout(10 * time.Second),
	}
	if from != nil {
		opts = append(opts, vegeta.LocalAddr(net.IPAddr{IP: from}))
	}
	return opts
}

// okRate is the number of 2xx responses per second over the attack.
func okRate(m *vegeta.Metrics) float64 {
	return m.Throughput
}

// statuses renders a status-code histogram ("200×12000 429×3").
func statuses(m *vegeta.Metrics) string {
	codes := make([]string, 0, len(m.StatusCodes))
	for c := range m.StatusCodes {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		label := c
		if c == "0" {
			label = "transport-error"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", label, m.StatusCodes[c]))
	}
	return strings.Join(parts, " ")
}

// onlyStatuses reports whether every response had one of the codes.
func onlyStatuses(m *vegeta.Metrics, codes ...int) bool {
	var n uint64
	for _, c := range codes {
		n += uint64(m.StatusCodes[fmt.Sprint(c)])
	}
	return m.Requests > 0 && n == m.Requests
}

// onlyStatus reports whether every response of the attack had status code.
func onlyStatus(m *vegeta.Metrics, code int) bool {
	return m.Requests > 0 && uint64(m.StatusCodes[fmt.Sprint(code)]) == m.Requests
}

func staticGet(url string) vegeta.Targeter {
	return vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})
}

// keyTargets round-robins over every seeded key: authenticated
// GET /v2/loyalty/program calls spread across all programs, as real
// integrations would be (and each key stays within its rate limit).
func keyTargets(base string, benchKeys []benchKey) vegeta.Targeter {
	return vegeta.NewStaticTargeter(keyTargetList(base, benchKeys)...)
}

// everyKeyOnce calls with each key once, then ends the attack: the warm-up
// that puts every key into the verification cache, as in steady state.
func everyKeyOnce(base string, benchKeys []benchKey) vegeta.Targeter {
	tgts := keyTargetList(base, benchKeys)
	var n atomic.Int64
	return func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		if i >= int64(len(tgts)) {
			return vegeta.ErrNoTargets
		}
		*t = tgts[i]
		return nil
	}
}

func keyTargetList(base string, benchKeys []benchKey) []vegeta.Target {
	tgts := make([]vegeta.Target, len(benchKeys))
	for i, k := range benchKeys {
		tgts[i] = vegeta.Target{Method: http.MethodGet, URL: base + "/v2/loyalty/program", Header: http.Header{
			"Partner-Id": {k.PartnerID},
			"Api-Key":    {k.Secret},
		}}
	}
	return tgts
}

// badKind selects what a flood request carries.
type badKind int

const (
	badMixed     badKind = iota // alternate well-formed unknown and malformed
	badMalformed                // malformed only
	badUnknown                  // well-formed (valid checksum) but unknown only
)

// malformedKeys are the ways a key can be wrong without a lookup: a typo
// (checksum mismatch), wrong prefix, length, alphabet, or nothing at all.
func malformedKey(i uint64, valid string) string {
	switch i % 6 {
	case 0: // one character changed: the checksum no longer matches
		b := []byte(valid)
		if b[10] == 'a' {
			b[10] = 'b'
		} else {
			b[10] = 'a'
		}
		return string(b)
	case 1:
		return "sk_" + valid[3:]
	case 2:
		return valid[:len(valid)-1]
	case 3:
		return valid[:20] + "!@#$%^&*" + valid[28:]
	case 4:
		return ""
	default:
		return strings.Repeat("A", 200)
	}
}

// floodTargets are hostile calls: random well-formed keys (a fresh one each
// time, so the negative cache never helps) and malformed keys, sent with a
// real partner ID (the attacker knows it: it is not secret).
func floodTargets(base string, benchKeys []benchKey, kind badKind) vegeta.Targeter {
	var n atomic.Uint64
	return func(t *vegeta.Target) error {
		i := n.Add(1)
		k := benchKeys[i%uint64(len(benchKeys))]
		var key string
		switch {
		case kind == badUnknown, kind == badMixed && i%2 == 0:
			key = keys.NewAPIKeyString()
		default:
			key = malformedKey(i/2, k.Secret)
		}
		*t = vegeta.Target{Method: http.MethodGet, URL: base + "/v2/loyalty/program", Header: http.Header{
			"Partner-Id": {k.PartnerID},
			"Api-Key":    {key},
		}}
		return nil
	}
}
