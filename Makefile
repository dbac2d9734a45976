# hemopa — `make help` lists the targets.
SHELL := bash
.DEFAULT_GOAL := help
GO ?= go
SAMPLE_AS_OF ?= 2026-11-24
GOTEST_FLAGS ?= -count=1 -timeout 45m

.PHONY: help build run test unit integration bench loadtest lint fmt samples golden metamorphic fuzz hapi oauth clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/hemopa
	$(GO) build -o bin/hemopa ./cmd/hemopa

run: ## evaluate the bundled sample patients offline (no server) and print the decision table
	$(GO) run ./cmd/hemopa table --as-of $(SAMPLE_AS_OF) testdata/patients/*.json

test: hapi oauth ## all tests: unit, golden and integration (starts HAPI FHIR and oidc-provider)
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) ./...

unit: ## unit and golden tests only (no servers)
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /integration)

integration: hapi oauth ## integration tests against the real HAPI and OAuth servers
	$(GO) test $(GOTEST_FLAGS) -v ./integration/...

bench: ## benchmarks (engine, decode+map+evaluate, server) with memory figures
	$(GO) test -run '^$$' -bench . -benchmem ./rules/ ./cmd/hemopa/internal/...

lint: ## gofmt, go vet, staticcheck (pinned as a go.mod tool) and the policy lint
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) run ./cmd/hemopa policies lint

loadtest: ## loopback load test of CDS Hooks order-sign, 32 clients (LOADTEST=2m for the memory run)
	HEMOPA_LOADTEST=$(or $(LOADTEST),10s) $(GO) test -run LoadOrderSign -v -count=1 -timeout 30m ./cmd/hemopa/internal/serve

golden: ## rewrite the golden outputs after a deliberate change
	$(GO) test ./cmd/hemopa -run Golden -update

metamorphic: ## the metamorphic suite's counts and violations, without failing (it fails in make test)
	HEMOPA_METAMORPHIC=report $(GO) test -count=1 -v -run 'TestMetamorphic$$' ./cmd/hemopa/internal/pipeline | grep -v '^=== RUN'

fuzz: ## one minute per fuzz target: decoder, observation reader, metamorphic compositions
	$(GO) test -run '^$$' -fuzz FuzzDecodeBundle -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 5s ./fhir
	$(GO) test -run '^$$' -fuzz FuzzMapObservation -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 5s ./mapping
	$(GO) test -run '^$$' -fuzz FuzzLint -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 5s ./rules
	$(GO) test -run '^$$' -fuzz FuzzMetamorphic -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 5s ./cmd/hemopa/internal/pipeline

samples: ## regenerate the synthetic sample patients (needs python3)
	python3 testdata/patients/generate.py

hapi: ## build (or reuse) the local HAPI FHIR JPA server jar from Maven Central
	bash integration/scripts/hapi-build.sh

oauth: ## install (or reuse) the pinned oidc-provider authorization server
	bash integration/scripts/oauth-install.sh

clean: ## remove build outputs
	rm -rf bin
