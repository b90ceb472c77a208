#!/usr/bin/env bash
# The whole test suite: formatting, vet, the pure-Go relay build, then every
# package's tests with the race detector (X11 tests start their own Xvfb).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './var/*'))
if [ -n "$bad" ]; then echo "gofmt needed on:"; echo "$bad"; exit 1; fi

echo "== go vet"
go vet ./...

echo "== relay builds without cgo"
CGO_ENABLED=0 go build -o /dev/null ./cmd/tandem-relay
echo "== capture and wire cross-compile for Windows and macOS (pure Go parts)"
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o /dev/null ./capture/... ./transport/... ./policy/... ./relay/... ./installer/... ./cmd/tandem-host
echo "== the Windows Host with cgo (capture, input, service, whitelist, console helper) through mingw-w64"
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc go vet ./agent ./input ./capture/... ./installer ./cmd/tandem-host
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc go build -o /dev/null ./cmd/tandem-host

echo "== PostgreSQL for the store tests"
# The store tests (and the relay's storage-specific ones) run on SQLite and
# on PostgreSQL: a private server started here unless one is given.
if [ -z "${TANDEM_TEST_POSTGRES:-}" ]; then
  TANDEM_TEST_POSTGRES=$(./scripts/postgres.sh start)
  trap './scripts/postgres.sh stop' EXIT
fi
export TANDEM_TEST_POSTGRES

echo "== go test -race"
# Tests that need the network only ever use 127.0.0.1; the CLI end-to-end test
# builds the real binaries. -p 2 matches CI's two cores.
go test -race -count=1 -p 2 -timeout 25m ./...

echo "== packages: the Host's deb installed, enrolled, removed and purged here (rpm listed)"
# Needs root and a machine without a tandem-host package or /etc/tandem of
# its own; the MSI (a minutes-long cross-build cold) is make test-packages'.
if [ "$(id -u)" = 0 ] && ! dpkg-query -W tandem-host >/dev/null 2>&1 && [ ! -e /etc/tandem ]; then
  make --no-print-directory test-packages MSI=0
else
  [ -z "${CI:-}" ] || { echo "packages: CI must run this as root on a clean machine" >&2; exit 1; }
  echo "skip: not root, or this machine has its own tandem-host package or /etc/tandem"
fi

echo "== make demo smoke (the README's first command, as a new user runs it)"
./scripts/demo-smoke.sh
