# Shoal: a Docker Swarm-compatible orchestrator in one binary.
#   make demo   install what is missing, build, start a node, run a service
#   make test   install what is missing, build, run every test
GO ?= go
BIN := bin/shoal

.PHONY: build deps test unit e2e demo demo-down bench fuzz-short mutate clean ui-vendor

# `shoal compose version` names the Compose SDK it is built with.
COMPOSE_VERSION = $(shell $(GO) list -m -f '{{.Version}}' github.com/docker/compose/v5)

build:
	$(GO) build -ldflags "-X github.com/docker/compose/v5/internal.Version=$(COMPOSE_VERSION)" -o $(BIN) ./cmd/shoal

deps:
	./scripts/install-deps.sh

# The whole suite. Packages run one at a time (-p 1): the end-to-end and
# containerd tests start real daemons, and this is a 2-core machine.
test: deps build
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 25m ./...
	$(MAKE) fuzz-short

# Each fuzz test briefly, past its seed corpus (which plain go test runs
# too); bench/fuzz.sh runs them for minutes (docs/TESTING.md has the runs).
# A count, not a duration: go1.26's fuzzing coordinator can fail a timed run
# at its deadline with "context deadline exceeded" and no crasher
# (golang/go#75804, fixed in go1.27); a count never meets that deadline.
# The image targets go through containerd at a few execs a second and get
# fewer.
fuzz-short:
	FUZZTIME=2000x FUZZ_SKIP='^Fuzz(Load|Import)$$' ./bench/fuzz.sh
	FUZZTIME=20x ./bench/fuzz.sh '^Fuzz(Load|Import)$$'

unit:
	$(GO) test -count=1 -short ./internal/...

e2e: deps build
	$(GO) test -p 1 -count=1 -timeout 20m -v ./e2e/

demo: deps build
	./scripts/demo.sh

demo-down:
	./scripts/demo.sh down

bench: deps build
	./bench/converge.sh

# Mutation testing, not part of test or CI (docs/TESTING.md has the scores):
# gremlins changes the code of the safety-critical packages one operator at a
# time and reports each change no test notices. Slow on 2 cores: packages run
# one after another, one worker each, with a generous timeout. Where a package
# holds much else, only its secrets file is mutated (every other file is
# excluded), and for containerdexec only the tests of that file run (they
# start a private containerd, hence the e2e lock).
GREMLINS_VERSION := v0.6.0
GREMLINS := $(CURDIR)/bin/tools/gremlins
MUTATE_FLAGS := --workers 1 --test-cpu 1 --timeout-coefficient 10 --invert-logical --invert-loopctrl
# mutate_only DIR,FILE: exclude every other non-test Go file of DIR.
mutate_only = $(foreach f,$(filter-out $(2) %_test.go,$(notdir $(wildcard $(1)/*.go))),-E '^$(subst .,\.,$(f))$$')
CDEXEC_SECRET_TESTS := TestResolveFiles|TestSecretsAndConfigsInContainer|TestMissingDependencyFailsPrepare|TestSecretsAcrossRestart

mutate:
	GOBIN=$(CURDIR)/bin/tools $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	$(GREMLINS) unleash $(MUTATE_FLAGS) -E '^consensustest/' ./internal/consensus
	$(GREMLINS) unleash $(MUTATE_FLAGS) ./internal/ca
	$(GREMLINS) unleash $(MUTATE_FLAGS) ./internal/dispatcher
	$(GREMLINS) unleash $(MUTATE_FLAGS) $(call mutate_only,internal/controlapi,secrets.go) ./internal/controlapi
	flock /tmp/shoal-e2e.lock env GOFLAGS='-run=$(CDEXEC_SECRET_TESTS)' \
		$(GREMLINS) unleash $(MUTATE_FLAGS) $(call mutate_only,internal/executor/containerdexec,secrets.go) -E '^jsonlog/' ./internal/executor/containerdexec

# The web UI's libraries, vendored as ES modules (internal/ui/assets/vendor,
# VERSIONS there): `make ui-vendor` fetches them again with npm. hooks.mjs
# imports preact by a relative path, so that the page needs no import map
# (an inline script its Content-Security-Policy would refuse). Change a
# version here and in VERSIONS together.
PREACT_VERSION := 11.2.0
HTM_VERSION := 3.1.1
UI_VENDOR := internal/ui/assets/vendor

ui-vendor:
	rm -rf bin/ui-vendor && mkdir -p bin/ui-vendor/preact bin/ui-vendor/htm
	cd bin/ui-vendor && npm pack --silent preact@$(PREACT_VERSION) htm@$(HTM_VERSION) >/dev/null
	tar xzf bin/ui-vendor/preact-$(PREACT_VERSION).tgz -C bin/ui-vendor/preact --strip-components=1
	tar xzf bin/ui-vendor/htm-$(HTM_VERSION).tgz -C bin/ui-vendor/htm --strip-components=1
	cp bin/ui-vendor/preact/dist/preact.mjs $(UI_VENDOR)/preact.mjs
	cp bin/ui-vendor/preact/hooks/dist/hooks.mjs $(UI_VENDOR)/hooks.mjs
	cp bin/ui-vendor/htm/dist/htm.mjs $(UI_VENDOR)/htm.mjs
	cp bin/ui-vendor/preact/LICENSE $(UI_VENDOR)/LICENSE.preact
	cp bin/ui-vendor/htm/LICENSE $(UI_VENDOR)/LICENSE.htm
	sed -i '/sourceMappingURL/d' $(UI_VENDOR)/*.mjs
	sed -i 's|from"preact"|from"./preact.mjs"|g' $(UI_VENDOR)/hooks.mjs
	rm -rf bin/ui-vendor

clean:
	rm -rf bin
