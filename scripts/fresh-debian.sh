#!/usr/bin/env bash
# Runs a command of this repository's committed HEAD on a fresh minbase
# Debian 12: a chroot made by mmdebstrap (from the mirror this machine's apt
# uses) with only make, git and ca-certificates, the Go toolchain copied in
# from `go env GOROOT`, a fresh clone of HEAD. Everything else must come from
# scripts/deps.sh, so a package missing from it fails here even when this
# machine has it. .ci/run runs the suite this way.
#
#   scripts/fresh-debian.sh [COMMAND]     (as root; default: CI=true make test)
#
# Phases, each timed: the chroot, `scripts/deps.sh all` (apt), `make build`,
# then COMMAND; their output goes to stdout. Only the Go module download
# cache is shared with this machine (read-write bind mount): never the build
# cache, whose cgo entries would hide missing C headers.
# Env: FRESH_KEEP=1 keeps the chroot (under /tmp/tandem-fresh.*) afterwards;
#      FRESH_SUITE (default bookworm), FRESH_MIRROR (default: this apt's).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CMD=${1:-CI=true make test}
SUITE=${FRESH_SUITE:-bookworm}

say() { echo "fresh-debian: $*"; }
die() { echo "fresh-debian: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap, chroot, mounts)"
command -v go >/dev/null || die "no go here: the chroot's toolchain is copied from this one"
GOROOT_HOST=$(go env GOROOT)
MODCACHE=$(go env GOMODCACHE)
COMMIT=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] || say "uncommitted changes are not tested: this runs commit $COMMIT"

if ! command -v mmdebstrap >/dev/null; then
  say "installing mmdebstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mmdebstrap >/dev/null 2>&1 || {
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends mmdebstrap >/dev/null
  }
fi

# The mirror this machine's apt uses (deb822 or one-line sources).
mirror=${FRESH_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /tmp/tandem-fresh.XXXXXX)
log=$root.setup.log
mounted=()
cleanup() {
  local rc=$? p m i
  set +e
  # Whatever the run left behind in the chroot (services, servers) holds
  # its mounts: end those processes, found by their root directory.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    m=${mounted[i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "fresh-debian: could not unmount $m" >&2
  done
  # Never remove through a mount still in place (the module cache is
  # this machine's own).
  local busy=0
  for m in "${mounted[@]}"; do mountpoint -q "$m" 2>/dev/null && busy=1; done
  grep -q " $root/" /proc/mounts && busy=1
  if [ "${FRESH_KEEP:-0}" = 1 ]; then
    say "kept the chroot at $root"
  elif [ "$busy" = 0 ]; then
    rm -rf "$root" "$log"
  else
    echo "fresh-debian: $root still has mounts; not removing it" >&2
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mnt() { # mount args... target (last)
  mount "$@"
  mounted+=("${!#}")
}

total=$SECONDS
t=$SECONDS
say "commit $COMMIT, Debian $SUITE minbase from $mirror into $root"
# force-unsafe-io: no fsync per unpacked file (a throw-away tree), which
# costs minutes on a slow disk; it changes nothing that gets installed. It
# stays in the chroot (99mmdebstrap) for the deps phase too.
mmdebstrap --variant=minbase --include=make,git,ca-certificates --dpkgopt=force-unsafe-io \
  "$SUITE" "$root" "$mirror" >"$log" 2>&1 ||
  { tail -n 20 "$log"; die "mmdebstrap failed (log $log)"; }
say "mmdebstrap: $((SECONDS - t))s"
# apt inside resolves and fetches as this machine's does (same sources,
# including updates and security).
if ls /etc/apt/sources.list.d/*.sources >/dev/null 2>&1; then
  rm -f "$root/etc/apt/sources.list"
  cp /etc/apt/sources.list.d/*.sources "$root/etc/apt/sources.list.d/"
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# What any installed Debian has and minbase does not write: names for loopback.
printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
echo tandem-fresh >"$root/etc/hostname"
# The CAs this machine trusts beyond Debian's (e.g. an egress proxy's), so the
# chroot reaches the module proxy and the mirror as this machine does.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
cp -a "$GOROOT_HOST" "$root/usr/local/go"
git clone -q --no-checkout "$REPO" "$root/src/tandem"
git -C "$root/src/tandem" checkout -q --detach "$COMMIT"

mnt -t proc proc "$root/proc"
mnt -t sysfs sysfs "$root/sys"
mnt --bind /dev "$root/dev"
mnt --bind /dev/pts "$root/dev/pts"
mnt -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
mnt -t tmpfs -o mode=1777 tmpfs "$root/tmp"
mnt -t tmpfs -o mode=755 tmpfs "$root/run"
mkdir -p "$MODCACHE" "$root/root/go/pkg/mod"
mnt --bind "$MODCACHE" "$root/root/go/pkg/mod"
say "chroot ready in $((SECONDS - t))s"

# inside runs a shell command in the clone, in a clean environment.
inside() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOMODCACHE=/root/go/pkg/mod GOPROXY="$(go env GOPROXY)" GOSUMDB="$(go env GOSUMDB)" \
    GOFLAGS="$(go env GOFLAGS)" GOTOOLCHAIN=local \
    bash -c "cd /src/tandem && $1"
}
phase() { # name command
  local t=$SECONDS rc=0
  say "== $1: $2"
  inside "$2" || rc=$?
  say "$1: rc=$rc in $((SECONDS - t))s"
  [ "$rc" = 0 ] || die "$1 failed (rc=$rc) after $((SECONDS - total))s in all"
}
phase deps "scripts/deps.sh all"
phase build "make build"
phase run "$CMD"
say "ok: '$CMD' passed on a fresh Debian $SUITE in $((SECONDS - total))s"
