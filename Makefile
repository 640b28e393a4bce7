# Zoom token server. `make help` lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
GO ?= go
NODE_EXAMPLES := examples/node
# socket.io-client's browser bundle, copied from npm for the console to embed (gitignored).
CONSOLE_BUNDLE := internal/web/console/assets/vendor/socket.io.min.js
# Linters, pinned, installed into .bin/ by `make tools` (CI runs it).
STATICCHECK_VERSION := v0.8.2
GOVULNCHECK_VERSION := v1.9.0
GOTESTSUM_VERSION := v1.13.0
TOOLS := $(CURDIR)/.bin

.PHONY: help run test build docker lint tools vuln bench attack soak tidy node-deps clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: ## serve on PORT (default 3000); sandbox mode when no Zoom credentials are set
	@$(MAKE) -s node-deps || echo "note: npm failed; the console at /console/ and the example at /examples/browser/ need 'make node-deps'"
	@n=$$($(GO) list -deps ./server | wc -l); \
	echo "building bin/server: a line per package compiled, at most $$n (the first build takes about 2½ minutes on 2 cores; later ones are cached and quick)…"; \
	set -o pipefail; $(GO) build -v -ldflags "$(LDFLAGS)" -o bin/server ./server 2>&1 | awk -v n=$$n '{ printf "  [%d/%d] %s\n", NR, n, $$0; fflush() }'
	@echo "built bin/server; starting it: its first log line names the URLs to open (./bin/server --help for more)"
	./bin/server

# The first run builds every package with the race detector: about 20 minutes
# on 2 cores with an empty build cache (README), a few after that. gotestsum
# prints a line per package as it finishes, and each failure in full.
test: node-deps $(TOOLS)/gotestsum ## every test with the race detector, a line per package as it finishes
	@echo "testing with the race detector: the first run builds everything (README: Quick start), later runs reuse the cache…"
	$(TOOLS)/gotestsum --format pkgname-and-test-fails --format-hide-empty-pkg -- -race -count=1 -timeout 15m ./...

build: ## build bin/server (with the console's npm assets when npm can fetch them)
	@$(MAKE) -s node-deps || echo "note: npm failed; the console at /console/ will say it was built without its npm assets"
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/server ./server

docker: ## build the container image tokenserver:$(VERSION) (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) -t tokenserver:$(VERSION) -t tokenserver:latest .

lint: tools ## go vet, gofmt, staticcheck and govulncheck (pinned versions)
	@echo "go vet (the first run type-checks every package: a few minutes on 2 cores)…"
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi
	$(TOOLS)/staticcheck ./...
	@$(MAKE) -s vuln

tools: $(TOOLS)/staticcheck $(TOOLS)/govulncheck $(TOOLS)/gotestsum ## install the pinned linters and test runner into .bin/

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/govulncheck:
	GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

$(TOOLS)/gotestsum:
	GOBIN=$(TOOLS) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)

# govulncheck needs Go's vulnerability database (vuln.go.dev, or GOVULNDB=file:///…).
# Known vulnerabilities fail the target; a database that cannot be reached is said
# plainly and skipped, since some build machines reach only the module proxy.
vuln: $(TOOLS)/govulncheck ## govulncheck against Go's vulnerability database
	@db=$${GOVULNDB:-https://vuln.go.dev}; out=$$(timeout 120 $(TOOLS)/govulncheck -db "$$db" ./... 2>&1); rc=$$?; \
	if [ $$rc -eq 0 ]; then echo "govulncheck: no known vulnerabilities ($$db)"; \
	elif echo "$$out" | grep -qiE 'fetching vulnerabilities|dial tcp|no such host|connection refused|timeout|i/o timeout'; then \
	  echo "WARNING: govulncheck SKIPPED: the vulnerability database $$db cannot be reached from here, so known"; \
	  echo "WARNING: vulnerabilities were NOT checked; run make vuln where it can be reached (or set GOVULNDB=file:///…)"; \
	else echo "$$out"; exit $$rc; fi

bench: ## measure against the sandbox; writes BENCHMARKS.md
	$(GO) run ./internal/bench -out BENCHMARKS.md

attack: node-deps ## measure the server under attack; writes the Under attack section of BENCHMARKS.md
	$(GO) run ./internal/bench -attack -out BENCHMARKS.md

soak: ## 10-minute soak: goroutines and RSS at start and end
	$(GO) run ./internal/bench -soak 10m

tidy: ## go mod tidy
	$(GO) mod tidy

node-deps: $(NODE_EXAMPLES)/node_modules/.package-lock.json $(CONSOLE_BUNDLE) ## install the Node examples' packages (socket.io-client, playwright-core) from npm; copy the console's bundle

# npm ci writes node_modules/.package-lock.json: reinstall when the lockfile is newer.
$(NODE_EXAMPLES)/node_modules/.package-lock.json: $(NODE_EXAMPLES)/package-lock.json $(NODE_EXAMPLES)/package.json
	@echo "installing the Node examples' and the console's packages from npm (examples/node, npm ci; once)…"
	cd $(NODE_EXAMPLES) && npm ci --no-audit --no-fund

# The console embeds the bundle at build time; a build without it serves a page that says so.
$(CONSOLE_BUNDLE): $(NODE_EXAMPLES)/node_modules/.package-lock.json
	cp $(NODE_EXAMPLES)/node_modules/socket.io-client/dist/socket.io.min.js $@

# Swagger UI's browser bundle and style sheet, copied from npm for the API
# reference page at /docs/api/ (openapi/ embeds them; gitignored). A build
# without them serves a page that says so.
APIDOCS_VENDOR := internal/web/openapi/assets/vendor
APIDOCS_FILES := $(APIDOCS_VENDOR)/swagger-ui-bundle.js $(APIDOCS_VENDOR)/swagger-ui.css
node-deps: $(APIDOCS_FILES)

$(APIDOCS_VENDOR)/%: $(NODE_EXAMPLES)/node_modules/.package-lock.json
	cp $(NODE_EXAMPLES)/node_modules/swagger-ui-dist/$* $@

clean: ## remove build output
	rm -rf bin
