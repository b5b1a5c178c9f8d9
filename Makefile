# jitaccess — developer commands. `make help` lists them.
#
# The two commands a new developer needs are `make run` and `make test`.

GO            ?= go
TOOLS_BIN     := $(CURDIR)/bin/tools
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint
# Per-target fuzzing time: `make fuzz FUZZTIME=5m`.
FUZZTIME      ?= 30s
# CI's short pass counts executions instead of time: with a duration, Go
# 1.26's fuzz coordinator can fail a target that found nothing with
# "context deadline exceeded" when the time runs out on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline to race.
FUZZTIME_SHORT ?= 10000x
IMAGE         ?= jitaccess:dev

.DEFAULT_GOAL := help
.PHONY: help run test browser fuzz fuzz-short lint fmt bench build docker tools diff-check clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## Serve the demo (app + emulated Google Cloud + IAP simulator) on a loopback URL it prints
	$(GO) run ./cmd/jitaccess-demo

test: browser ## Run every test (race detector, shuffled order, no cache), browser tests included
	$(GO) test -race -shuffle=on -count=1 -timeout 30m ./...

# The browser tests need Debian's Chromium; install it when it is missing
# and we may (root), else say how.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium for the browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "the browser tests need Chromium: sudo apt-get install -y chromium"; exit 1; \
		fi; }

# Fuzz targets are found with `go test -list`, only in packages whose test
# files declare one, so that listing does not compile every test binary.
define run_fuzz
	@set -e; \
	dirs=$$(grep -rl --include='*_test.go' '^func Fuzz' cmd internal 2>/dev/null | xargs -r -n1 dirname | sort -u); \
	if [ -z "$$dirs" ]; then echo "no fuzz targets"; exit 0; fi; \
	for d in $$dirs; do \
		for t in $$($(GO) test -list '^Fuzz' ./$$d | grep '^Fuzz' || true); do \
			echo "== $$d $$t ($(1))"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(1) ./$$d; \
		done; \
	done
endef

fuzz: ## Run each fuzz target for FUZZTIME (default 30s)
	$(call run_fuzz,$(FUZZTIME))

fuzz-short: ## Run each fuzz target briefly (FUZZTIME_SHORT, default 10000 executions); used by CI
	$(call run_fuzz,$(FUZZTIME_SHORT))

lint: $(GOLANGCI_LINT) ## gofmt check, go vet and golangci-lint
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*' -not -path '*/testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...

fmt: ## Format the code
	$(GO) fmt ./...

# `make bench BENCHFLAGS='-latency 20ms -runs 3 -scale 10,100'` changes the
# load program's settings; `go run ./cmd/jitaccess-bench -h` lists them.
BENCHFLAGS    ?=
BENCHTIME     ?= 1s

bench: ## Measure: latency/floor per operation, quota per session, throughput, scale curves, start; then the Go benchmarks
	$(GO) run ./cmd/jitaccess-bench $(BENCHFLAGS)
	@dirs=$$(grep -rl --include='*_test.go' '^func Benchmark' cmd internal | xargs -r -n1 dirname | sort -u | sed 's|^|./|'); \
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 1 $$dirs

# -s -w drop the symbol table and DWARF data: a third of the binary, and
# nothing a production stack trace needs (it keeps function names).
# grpcnotrace drops gRPC's golang.org/x/net/trace pages (/debug/requests),
# whose templates kept every exported method of every type in the binary
# (docs/performance.md); the Dockerfile and app.yaml build the same way.
build: ## Build static binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -tags=grpcnotrace -ldflags='-s -w' -o bin/ ./cmd/...

docker: ## Build the container image (IMAGE=jitaccess:dev)
	docker build -t $(IMAGE) .

diff-check: ## Fail if formatting or go.mod/go.sum are not tidy
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*' -not -path '*/testdata/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff

tools: $(GOLANGCI_LINT) ## Install pinned tools into bin/tools

# Reinstalled when missing or of another version.
$(GOLANGCI_LINT): FORCE
	@if ! "$@" version 2>/dev/null | grep -q "version $(GOLANGCI_LINT_VERSION:v%=%) "; then \
		echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into $(TOOLS_BIN)"; \
		GOBIN=$(TOOLS_BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION); \
	fi

clean: ## Remove build output (keeps bin/tools)
	rm -rf dist $(filter-out $(TOOLS_BIN),$(wildcard bin/*))

.PHONY: FORCE
FORCE:
