package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"keydesk/routes"
)

var assetRef = regexp.MustCompile(`(?:href|src)="(/static/[^"?#]+)`)

// scenarioConsole is scenario 4: the API Keys page with 20 keys, its
// weight (HTML + every CSS and JS it references, gzipped) and its
// server-side time at concurrency 1.
func (b *bench) scenarioConsole() error {
	c, err := signIn(b.a.base, b.seed.adminEmail, b.seed.adminPass)
	if err != nil {
		return err
	}
	b.console = c
	page, err := c.get(routes.APIKeys)
	if err != nil {
		return err
	}
	shown := 0
	for i := range b.seed.consoleKeys {
		if bytes.Contains(page, fmt.Appendf(nil, "Integration %02d", i)) {
			shown++
		}
	}
	if shown != len(b.seed.consoleKeys) {
		return fmt.Errorf("the API Keys page shows %d of the %d seeded keys", shown, len(b.seed.consoleKeys))
	}

	type part struct {
		path     string
		raw, gz  int
		isHTML   bool
		isScript bool
	}
	parts := []part{{path: routes.APIKeys, raw: len(page), gz: gzipSize(page), isHTML: true}}
	seen := map[string]bool{}
	for _, m := range assetRef.FindAllSubmatch(page, -1) {
		p := string(m[1])
		if seen[p] || !(strings.HasSuffix(p, ".css") || strings.HasSuffix(p, ".js")) {
			continue
		}
		seen[p] = true
		body, err := c.get(p)
		if err != nil {
			return err
		}
		parts = append(parts, part{path: p, raw: len(body), gz: gzipSize(body), isScript: strings.HasSuffix(p, ".js")})
	}
	total, totalRaw := 0, 0
	var detail []string
	for _, p := range parts {
		total += p.gz
		totalRaw += p.raw
		detail = append(detail, fmt.Sprintf("%s %s (%s raw)", p.path, kb(p.gz), kb(p.raw)))
	}
	sort.Strings(detail[1:])

	target := vegeta.Target{Method: http.MethodGet, URL: b.a.base + routes.APIKeys, Header: http.Header{"Cookie": {c.cookieHeader()}}}
	attack(vegeta.NewStaticTargeter(target), 1, b.cfg.warmup/2, "console-warmup")
	m := attack(vegeta.NewStaticTargeter(target), 1, b.cfg.consoleDuration, "console")
	if !onlyStatus(m, http.StatusOK) {
		return fmt.Errorf("console page under load: %s %v", statuses(m), m.Errors)
	}
	b.rep.add(row{
		scenario:   fmt.Sprintf("4 console GET /general/api-keys, %d keys (1 conn, sequential)", shown),
		throughput: rps(okRate(m)),
		p50:        ms(m.Latencies.P50),
		p99:        ms(m.Latencies.P99),
		claim:      fmt.Sprintf("p99 %s (< %s)", ms(m.Latencies.P99), ms(targetConsoleP99)),
		verdict:    verdict(m.Latencies.P99 < targetConsoleP99),
	})
	b.rep.add(row{
		scenario: "4 console page weight: HTML + CSS + JS, gzipped",
		claim:    fmt.Sprintf("%s (< %s)", kb(total), kb(targetPageWeight)),
		verdict:  verdict(total < targetPageWeight),
	})
	b.rep.note("scenario 4: %d sequential page loads in %s, each a full page through the session store; the time is measured by the client over loopback (an upper bound of server time); weight: %s; %s uncompressed in all",
		m.Requests, b.cfg.consoleDuration, strings.Join(detail, ", "), kb(totalRaw))
	return nil
}

func gzipSize(b []byte) int {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Len()
}
