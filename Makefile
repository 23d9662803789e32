# keydesk — everyday commands. `make run` and `make test` need only Go;
# `make generate` (templ + Tailwind) needs Node for Tailwind.
GO ?= go
BIN := bin/keydesk
FUZZTIME ?= 5s
# staticcheck, pinned so every machine and CI report the same findings.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run build test generate client css templ htmx axe check lint openapi-lint fuzz bench soak clean

run: build
	./$(BIN) serve --demo

build:
	$(GO) build -o $(BIN) ./cmd/keydesk

test:
	$(GO) test -count=1 -timeout 30m ./...

# Regenerate the committed templ output, CSS, vendored htmx and the
# management API's Go client.
generate: templ css htmx axe client

# The management API's Go client, from web/openapi.yaml (client/oapi-codegen.yaml).
client:
	$(GO) tool oapi-codegen -config client/oapi-codegen.yaml web/openapi.yaml

templ:
	$(GO) tool templ generate

# npm packages, behind a stamp written only after npm ci succeeds, so an
# interrupted install is redone rather than taken for a complete one.
# SCARF_ANALYTICS=false: Spectral depends on @scarf/scarf, whose install
# script would report the installation.
NODE_MODULES := node_modules/.keydesk-installed

$(NODE_MODULES): package.json package-lock.json
	SCARF_ANALYTICS=false npm ci --no-audit --no-fund
	@touch $(NODE_MODULES)

css: $(NODE_MODULES)
	npx tailwindcss -i ./static/css/input.css -o ./static/css/app.css --minify

htmx: $(NODE_MODULES)
	cp node_modules/htmx.org/dist/htmx.min.js static/js/htmx.min.js

# axe-core for the accessibility browser test only (web/browser_a11y_test.go
# embeds it); no console page serves it.
axe: $(NODE_MODULES)
	cp node_modules/axe-core/axe.min.js web/testdata/axe.min.js

# Static checks CI runs besides the tests.
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# Every staticcheck check, style ones (ST*) included.
lint:
	$(GO) run $(STATICCHECK) -checks all ./...

# web/openapi.yaml against Spectral (spectral:oas, .spectral.yaml) and
# Redocly (recommended, redocly.yaml): any error or warning fails.
openapi-lint: $(NODE_MODULES)
	npx spectral lint --ruleset .spectral.yaml --fail-severity=warn web/openapi.yaml
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx redocly lint --config redocly.yaml web/openapi.yaml

# Short runs of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$target"; \
			$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

# Measured speed against API gateways (BENCHMARKS.md): builds the real server,
# seeds 200 programs x 20 keys, loads it with vegeta and prints one table.
# PostgreSQL when BENCH_DATABASE_URL or DATABASE_URL is set (scenario 3 needs it),
# else a fresh SQLite file. Never part of `make test`. BENCHFLAGS=-smoke: ~1 s per scenario.
bench:
	$(GO) run ./cmd/keydesk-bench $(BENCHFLAGS)

# The full-size mixed load test: 30 admins working the console while API
# traffic runs, for 60 s (set TEST_DATABASE_URL to run it on PostgreSQL too).
soak:
	KEYDESK_SOAK=1 $(GO) test -count=1 -run '^TestMixedLoad$$' -v -timeout 10m ./web/

clean:
	rm -rf bin data
