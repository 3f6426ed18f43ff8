# Shoal: a Docker Swarm-compatible orchestrator in one binary.
#   make demo   install what is missing, build, start a node, run a service
#   make test   install what is missing, build, run every test
GO ?= go
BIN := bin/shoal

.PHONY: build deps test unit e2e demo demo-down bench clean

build:
	$(GO) build -o $(BIN) ./cmd/shoal

deps:
	./scripts/install-deps.sh

# The whole suite. Packages run one at a time (-p 1): the end-to-end and
# containerd tests start real daemons, and this is a 2-core machine.
test: deps build
	$(GO) vet ./...
	$(GO) test -p 1 -count=1 -timeout 25m ./...

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

clean:
	rm -rf bin
