#!/usr/bin/env bash
# Installs the Debian packages Tandem needs to build and test, only those
# missing. Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

# The Fyne console (console/, tandem-guest, tandem-ondemand) builds with
# cgo against OpenGL and these X extensions. libc6-dev: the C headers (gcc
# without recommends brings none). libwayland-dev, libxkbcommon-dev: Fyne's
# GLFW includes wayland-client-core.h and xkbcommon/xkbcommon.h.
# libpipewire-0.3-dev: capture/ receives GNOME's screen cast (PipeWire) with cgo.
# One package per line so that parallel additions merge cleanly.
BUILD=(
  gcc
  libc6-dev
  pkg-config
  libx11-dev
  libxext-dev
  libxtst-dev
  libgl1-mesa-dev
  libxcursor-dev
  libxrandr-dev
  libxinerama-dev
  libxi-dev
  libxxf86vm-dev
  libwayland-dev
  libxkbcommon-dev
  libpipewire-0.3-dev
)
# rpm, msitools, wixl: the packaging tests list the rpms and build and
# inspect an MSI around a placeholder exe (the real MSI also needs mingw-w64).
# slapd + ldap-utils: the LDAP tests run a private slapd on free 127.0.0.1
# ports (internal/slapdtest); they never use the system one Debian's package
# may start on port 389 (`systemctl disable --now slapd` if unwanted).
# zenity: the Host's chat window (agent.DesktopChatUI), driven with xdotool.
# xclip: the clipboard tests' local X client. openbox: a window manager for
# the whitelist tests (frames, focus).
# gcc-mingw-w64-x86-64: the Windows Host's cgo cross-build (capture, input,
# service, whitelist) that make test checks. dbus-daemon: the desktop
# discovery test serves logind's objects on a private bus. libgl1-mesa-dri:
# the Fyne windows' software OpenGL under Xvfb.
# x11-xserver-utils: xset and xsetroot (agent's screen-saver and cursor
# tests). x11-xkb-utils: setxkbmap (input's layout test). zstd: the CLI that
# checks capture/codec's browser stream. python3: the packaging tests' plist
# lint and test-packages.sh. curl, procps: test-packages.sh fetches install.sh
# and finds the Host's service process (pgrep). postgresql: the store tests'
# private server (scripts/postgres.sh). nginx: the reverse-proxy test runs a
# private nginx in front of the relay (internal/nginxtest). chromium: the
# Portal's browser tests (relay/portal, chromedp, headless). coturn: the
# e2e test with coturn as the only TURN server (e2e/coturn_test.go). sway,
# grim, foot: the Wayland (wlroots) capture/input tests run a headless sway
# (internal/swaytest), compare with grim's screenshot and type into foot;
# fonts-dejavu-core: foot draws nothing without a font. mutter, pipewire,
# wireplumber: the GNOME (Mutter) tests run a headless Mutter with its own
# session bus, PipeWire and WirePlumber (internal/muttertest).
TEST=(
  xvfb
  xterm
  xdotool
  x11-utils
  x11-apps
  x11-xserver-utils
  x11-xkb-utils
  openbox
  slapd
  ldap-utils
  rpm
  msitools
  wixl
  zenity
  xclip
  gcc-mingw-w64-x86-64
  dbus-daemon
  libgl1-mesa-dri
  zstd
  python3
  curl
  procps
  postgresql
  nginx
  chromium
  coturn
  sway
  grim
  foot
  mutter
  pipewire
  wireplumber
  fonts-dejavu-core
  # nodejs, npm: the Portal's tests run @redocly/cli and axe-core, installed
  # by scripts/npm-tools.sh (never needed at run time).
  nodejs
  npm
)
# wine64 + wine: the Windows Host, its MSI and service run under Wine in
# the e2e tests (internal/winetest); Wine runs amd64 Windows programs only.
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then TEST+=(wine64 wine); fi
PACKAGES=(rpm msitools wixl gcc-mingw-w64-x86-64)
case "${1:-all}" in
  packages) WANT=("${PACKAGES[@]}") ;;
  packages-nomsi) WANT=(rpm) ;; # deb and rpm only: no Windows toolchain
  build) WANT=("${BUILD[@]}") ;;
  all | test | demo) WANT=("${BUILD[@]}" "${TEST[@]}") ;;
  *) echo "usage: $0 [build|test|demo|packages|packages-nomsi|all]" >&2; exit 2 ;;
esac

if ! command -v go >/dev/null 2>&1; then
  echo "deps: Go is not installed. Install Go 1.26 or newer from https://go.dev/dl/ (Debian's golang-go is too old)." >&2
  exit 1
fi

missing=()
for p in "${WANT[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# The test tools from npm (scripts/npm-tools.sh), after nodejs/npm.
npm_tools() { case "${1:-all}" in all | test) "$(dirname "$0")/npm-tools.sh" ;; esac; }
[ ${#missing[@]} -eq 0 ] && { npm_tools "${1:-all}"; exit 0; }

echo "deps: installing ${missing[*]}" >&2
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "deps: these packages are missing and this is not root: ${missing[*]}" >&2
    echo "deps: as root, run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
npm_tools "${1:-all}"
