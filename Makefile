# Tandem — see README.md. `make demo` runs the suite on embedded defaults;
# `make test` runs every test (CI runs exactly that).
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION := $(VERSION)
LDFLAGS := -X github.com/tandem-rc/tandem/internal/version.Version=$(VERSION)
BIN     := bin

.PHONY: all deps build demo test bench clean packages test-packages msi ondemand-windows

all: build

deps:
	@./scripts/deps.sh

build: deps
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-relay ./cmd/tandem-relay
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-host ./cmd/tandem-host
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-guest ./cmd/tandem-guest
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/tandem-ondemand ./cmd/tandem-ondemand

demo: build
	@./scripts/demo.sh

test: build
	@./scripts/test.sh

# Benchmarks print figures; nothing here asserts on time.
bench: deps
	$(GO) test -run '^$$' -bench . -benchtime 3s ./capture/... ./transport/... ./e2e/...

# deb and rpm for the Host, relay and Guest (nfpm), and the Host's MSI
# (wixl; its cross-build takes minutes cold; MSI=0 skips it), into dist/.
MSI ?= 1
packages: build
	@./scripts/deps.sh $(if $(filter 0,$(MSI)),packages-nomsi,packages) || echo "packages: without rpm, msitools, wixl and mingw-w64 only the deb and rpm are built"
	rm -rf dist
	$(GO) run ./cmd/tandem-pkg --version '$(VERSION)' --bin $(BIN) --out dist --formats deb,rpm
	cp $(BIN)/tandem-ondemand dist/tandem-ondemand-linux-$(shell $(GO) env GOARCH)
	@if [ "$(MSI)" = 0 ]; then :; \
	elif command -v wixl >/dev/null && command -v x86_64-w64-mingw32-gcc >/dev/null; then $(MAKE) --no-print-directory msi VERSION='$(VERSION)'; \
	else echo "packages: no wixl or mingw-w64 here: no MSI (as root: scripts/deps.sh packages)"; fi

# The Host for Windows (cgo: mingw-w64) and its MSI.
msi:
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/windows/tandem-host.exe ./cmd/tandem-host
	$(GO) run ./cmd/tandem-pkg --version '$(VERSION)' --out dist --formats msi --host-exe $(BIN)/windows/tandem-host.exe

# The OnDemand agent for Windows (cgo + Fyne with mingw-w64: ~15 min cold),
# as the relay's /s/KEY pages offer it; a GUI program, no console window.
ondemand-windows:
	GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc $(GO) build -ldflags '$(LDFLAGS) -H=windowsgui' -o dist/tandem-ondemand-windows-amd64.exe ./cmd/tandem-ondemand

# Installs the Host's deb on this machine (root) and checks its life cycle,
# lists the rpms, inspects the MSI. `make test` runs it with MSI=0.
test-packages: packages
	VERSION='$(VERSION)' ./scripts/test-packages.sh

clean:
	rm -rf $(BIN) dist
