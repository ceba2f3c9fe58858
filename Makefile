# Gantry's developer commands. The README and .ci/run call these targets, so
# what passes here passes in CI. `make` alone lists them.
#
# Only the root module is covered: nested modules (bench/peers, ...) have their
# own go.mod, and ./... stops at their boundary on purpose.

GO          ?= go
GOFMT       ?= $(shell $(GO) env GOROOT)/bin/gofmt
# NODE_TOOLS is the node_modules of the pinned npm tools of api/package.json
# (redocly, openapi-typescript, openapi-fetch, TypeScript): `make openapi-tools`
# installs them in api/node_modules; .ci/run points it at its cache.
NODE_TOOLS  ?= $(CURDIR)/api/node_modules
# STATICCHECK is the staticcheck binary; .ci/run installs the pinned version.
STATICCHECK ?= staticcheck
# GOLANGCI_LINT is golangci-lint v2, used only by the optional `make lint-more`.
GOLANGCI_LINT ?= golangci-lint
# FUZZTIME is how long `make test` runs each fuzz target.
FUZZTIME    ?= 10s
# BENCHTIME is passed to -benchtime by `make bench`.
BENCHTIME   ?= 1s
# TESTFLAGS are added to the go test call of `make test`, e.g. TESTFLAGS=-v.
TESTFLAGS   ?=

.DEFAULT_GOAL := help
.PHONY: help test unit powerloss fuzz lint fmt-check vet staticcheck lint-more bench tidy-check build build-static test-static docker-check clean
.PHONY: openapi-tools openapi-lint clients-check test-workflows

help: ## list the targets
	@echo 'Usage: make TARGET [VAR=value]'
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
	@echo
	@echo 'Variables: GO=$(GO) STATICCHECK=$(STATICCHECK) FUZZTIME=$(FUZZTIME) BENCHTIME=$(BENCHTIME) TESTFLAGS=$(TESTFLAGS)'

# UNIT_SUMMARY is where `make unit` keeps the list of skipped tests and its
# closing line, which `make test` prints again at its very end.
UNIT_SUMMARY = bin/unit-summary.txt

test: unit powerloss fuzz ## the whole test suite: unit tests with the race detector, the power-loss test at POWERLOSS_POINTS crash points, then the fuzz pass; ends with the tests skipped and how to run them
	@echo
	@cat $(UNIT_SUMMARY)

# go test -json goes through internal/testreport, which prints what go test
# prints without -json, then the tests that skipped (no PostgreSQL, no S3
# server, ...) grouped by the reason they give, which says how to run them,
# and a closing line "N passed, N failed, N skipped". Its exit status is
# go test's, or 1 when a test failed.
unit: ## go test -race ./..., then which tests skipped and why (PostgreSQL without GANTRY_TEST_POSTGRES_URL, S3 without versitygw, ...)
	@mkdir -p bin
	@$(GO) build -o bin/testreport ./internal/testreport
	{ $(GO) test -race -count=1 -json $(TESTFLAGS) ./...; echo $$? >bin/.unit-status; } | \
		bin/testreport -status bin/.unit-status -summary $(UNIT_SUMMARY) -trim $$($(GO) list -m)/ $(if $(filter -v -v=true,$(TESTFLAGS)),-v)

# POWERLOSS_POINTS is how many crash points `make powerloss` (part of `make
# test`) takes in the embedded store's power-loss test; the race-detector pass
# of `make unit` takes the test's short default.
POWERLOSS_POINTS ?= 100

powerloss: ## the embedded store's power-loss test at POWERLOSS_POINTS crash points, without the race detector (about 10 s at 100)
	GANTRY_POWERLOSS_POINTS=$(POWERLOSS_POINTS) $(GO) test -count=1 -run='^TestPowerLoss$$' -timeout=30m ./store/embedded/

# Every `func FuzzXxx(f *testing.F)` in a package of this module runs for
# FUZZTIME on its own (go test -fuzz takes one target at a time), so new fuzz
# targets join without editing this file. A failing input is written to the
# package's testdata/fuzz and fails the target. .ci/fuzz-target runs each:
# it runs once more a target that failed only with Go 1.26's deadline race
# at the end of -fuzztime (go.dev/issue/75804), with no failing input.
fuzz: ## run every Fuzz* target of the module for FUZZTIME each
	@set -e; mod=$$($(GO) list -m); targets=; \
	for line in $$($(GO) list -e -f '{{.ImportPath}}={{.Dir}}' ./...); do \
		ip=$${line%%=*}; dir=$${line#*=}; \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*testing\.F).*/\1/p' "$$dir"/*_test.go 2>/dev/null); do \
			targets="$$targets .$${ip#$$mod}:$$name"; \
		done; \
	done; \
	set -- $$targets; echo "fuzz: $$# targets, $(FUZZTIME) each"; \
	for t in "$$@"; do \
		bash .ci/fuzz-target "$(GO)" "$${t%%:*}" "$${t#*:}" "$(FUZZTIME)"; \
	done

lint: fmt-check vet staticcheck ## gofmt, go vet and staticcheck, all clean

fmt-check: ## fail if gofmt would change a file
	@files=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path '*/node_modules/*' -print0 | xargs -0 -r $(GOFMT) -l); \
	if [ -n "$$files" ]; then echo 'gofmt -l: these files are not formatted (run gofmt -w):'; echo "$$files"; exit 1; fi

vet: ## go vet ./...
	$(GO) vet ./...

staticcheck: ## staticcheck ./...
	@command -v $(STATICCHECK) >/dev/null 2>&1 || { \
		echo 'staticcheck not found: bash .ci/run installs the pinned version, or set STATICCHECK=/path/to/staticcheck'; exit 1; }
	$(STATICCHECK) ./...

lint-more: ## golangci-lint with .golangci.yml (optional, not run by CI)
	$(GOLANGCI_LINT) run ./...

bench: ## run the benchmarks of the module once, BENCHTIME each
	$(GO) test -run='^$$' -bench=. -benchmem -benchtime=$(BENCHTIME) -count=1 ./...

# `go mod tidy -diff` is `go mod tidy` followed by a diff of go.mod and go.sum,
# without writing them: checking never rewrites files someone is editing.
tidy-check: ## fail if go mod tidy would change go.mod or go.sum
	$(GO) mod tidy -diff

openapi-tools: ## install the pinned npm tools of api/package.json into api/node_modules (npm ci)
	cd api && npm ci --no-audit --no-fund

openapi-lint: ## redocly lint api/openapi.yaml (the pinned @redocly/cli; make openapi-tools first)
	@test -x $(NODE_TOOLS)/.bin/redocly || { echo 'no redocly in $(NODE_TOOLS): run make openapi-tools'; exit 1; }
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(NODE_TOOLS)/.bin/redocly lint api/openapi.yaml

clients-check: ## generate a Go and a TypeScript client from api/openapi.yaml, run a typed round trip with each against gantry serve
	NODE_TOOLS=$(NODE_TOOLS) bash api/clients/run.sh

build: ## build the gantry binary into bin/gantry (with cgo where a C compiler is found: see docs/deployment.md)
	$(GO) build -o bin/gantry ./cmd/gantry

# The build of releases and of the container image: static, no cgo. The
# Dockerfile runs the same command; .ci/dockerfile-check checks that.
build-static: ## build a static gantry binary (CGO_ENABLED=0, as releases and the Dockerfile) into bin/gantry
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/gantry ./cmd/gantry

# The packages whose behaviour depends on cgo (Pebble's zstd and the memory
# of its cache), tested on the static build; no -race, which needs cgo.
test-static: ## the embedded store, the client and gantrytest on the static build (CGO_ENABLED=0 go test)
	CGO_ENABLED=0 $(GO) test -count=1 $(TESTFLAGS) ./store/embedded/... ./gantrytest/... .

docker-check: ## run the Dockerfile's build steps and the image's checks without Docker (.ci/dockerfile-check)
	bash .ci/dockerfile-check

clean: ## remove bin/
	rm -rf bin

.PHONY: bench-dashboard
bench-dashboard: ## the dashboard's answers with 1,000,000 jobs, embedded then PostgreSQL (GANTRY_TEST_POSTGRES_URL): docs/benchmarks.md "Dashboard"
	GANTRY_DASHBOARD_JOBS=1000000 $(GO) test -count=1 -timeout=60m -run '^TestDashboardLatency$$/^embedded$$' -v ./ui
	GANTRY_DASHBOARD_JOBS=1000000 $(GO) test -count=1 -timeout=60m -run '^TestDashboardLatency$$/^postgres$$' -v ./ui

.PHONY: screenshots
screenshots: ## the dashboard's browser tests (headless Chromium), its screenshots written to docs/img
	GANTRY_REQUIRE_BROWSER=1 GANTRY_TEST_SCREENSHOTS=$(CURDIR)/docs/img $(GO) test -race -count=1 -run '^TestBrowser' ./ui

# BENCH_HTTP_FLAGS are added to bench/httpbench by `make bench-http`,
# e.g. BENCH_HTTP_FLAGS='--json' or '--cpuprofile cpu.prof'.
BENCH_HTTP_FLAGS ?=

.PHONY: test-limits-long
test-limits-long: ## the queue limits' rates over a full minute (simulated in the stores' conformance, real for in-process and leased jobs; about 2 minutes; PostgreSQL with GANTRY_TEST_POSTGRES_URL)
	GANTRY_LIMITS_LONG=1 $(GO) test -race -count=1 -run='Limits|TestConformance/Limits' -timeout=10m . ./internal/push ./store/embedded ./store/postgres

.PHONY: bench-engine bench-http bench-push
bench-engine: ## the engine benchmarks of docs/benchmarks.md (embedded store, 3 runs each; about 6 minutes)
	$(GO) test -run='^$$' -bench='EnqueueParallel64|EnqueueBatch1000|PickupLatency' -benchtime=3s -count=3 .
	$(GO) test -run='^$$' -bench='EndToEnd64|Backlog' -benchtime=1000000x -count=3 -timeout=30m .

bench-push: ## the push downstream benchmark of docs/benchmarks.md "Push" (about 110 s): figures on stdout, the plot into docs/img/push-adaptive.png
	GANTRY_PUSH_BENCH=1 GANTRY_PUSH_BENCH_OUT=$(CURDIR)/docs $(GO) test -run='^TestDownstreamBench$$' -count=1 -v -timeout=10m ./internal/push

bench-http: ## the HTTP enqueue benchmark of docs/benchmarks.md (about 40 s): bench/httpbench
	$(GO) build -o bin/httpbench ./bench/httpbench
	bin/httpbench --connections 64 --duration 10s --warmup 2s --rate 10000 $(BENCH_HTTP_FLAGS)

# PEERS_FLAGS are added to the harness by `make bench-peers`, e.g.
# PEERS_FLAGS='-quick' for a smoke pass or PEERS_FLAGS='-only e2e,river'.
PEERS_FLAGS ?=

.PHONY: bench-peers peers-check
bench-peers: ## Gantry against River, asynq and the seeds' designs (bench/peers, own module; about 45 minutes): docs/benchmarks.md "Peers"
	cd bench/peers && $(GO) run . -out out -img ../../docs/img -wait-load 1.5 $(PEERS_FLAGS)

peers-check: ## go vet and the smoke test of the bench/peers module
	cd bench/peers && $(GO) vet ./... && $(GO) test ./...

# WORKFLOW_SEEDS is how many random workflows `make test-workflows` runs on
# each store (make test runs 200).
WORKFLOW_SEEDS ?= 2000

test-workflows: ## the long workflow property test: WORKFLOW_SEEDS random DAGs per store (PostgreSQL with GANTRY_TEST_POSTGRES_URL)
	GANTRY_WORKFLOW_SEEDS=$(WORKFLOW_SEEDS) $(GO) test -count=1 -timeout 60m -run 'TestConformance/Workflows/Property' ./store/embedded ./store/postgres

# CHAOS_JOBS and CHAOS_KILLS size `make chaos`; the short version in `make
# test` runs 3000 jobs and 6 kills per store. CHAOS_OUT keeps the histories.
CHAOS_JOBS  ?= 50000
CHAOS_KILLS ?= 20
CHAOS_OUT   ?= $(CURDIR)/bin/chaos

.PHONY: chaos
chaos: ## the chaos loop of docs/reliability.md: 50,000 jobs and 20 SIGKILLs on the embedded store and on PostgreSQL (3 nodes, one database crash), then the checker's verdict
	@mkdir -p $(CHAOS_OUT)
	GANTRY_CHAOS_JOBS=$(CHAOS_JOBS) GANTRY_CHAOS_KILLS=$(CHAOS_KILLS) GANTRY_CHAOS_OUT=$(CHAOS_OUT) \
		$(GO) test -count=1 -v -timeout 60m -run '^TestChaos(Embedded|Postgres)$$' ./bench/chaos

# SOAK_FLAGS are added to bench/soak by `make soak`, e.g. SOAK_FLAGS='--duration 5m --window 3m'.
SOAK_FLAGS ?=

.PHONY: soak
soak: ## the 30-minute soak of docs/reliability.md (not in CI): half-capacity HTTP load; RSS, goroutines, open files, store size; plots in docs/img
	$(GO) build -o bin/gantry ./cmd/gantry
	$(GO) build -o bin/soak ./bench/soak
	bin/soak --bin bin/gantry --img docs/img --out bin/soak-out $(SOAK_FLAGS)
