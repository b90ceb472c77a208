# Tandem — see README.md. `make demo` runs the suite on embedded defaults;
# `make test` runs every test (CI runs exactly that).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/tandem-rc/tandem/internal/version.Version=$(VERSION)
BIN     := bin

.PHONY: all deps build demo test bench clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-relay ./cmd/tandem-relay
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-host ./cmd/tandem-host
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-guest ./cmd/tandem-guest

demo: build
	@./scripts/demo.sh

test: build
	@./scripts/test.sh

# Benchmarks print figures; nothing here asserts on time.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3s ./capture/... ./transport/... ./e2e/...

clean:
	rm -rf $(BIN)
