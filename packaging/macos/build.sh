#!/bin/sh
# Builds dist/tandem-host-VERSION-ARCH.pkg on macOS (pkgbuild and productbuild
# are Apple's tools; elsewhere this recipe is only linted, by the packaging
# package's tests).
#   packaging/macos/build.sh VERSION path/to/tandem-host [ARCH]
# (ARCH: universal, the default, for a lipo'd binary, or x64 or arm64). A
# relay serving dist/ (--downloads) offers it on its install pages, renamed
# so that its name carries the package's key: postinstall enrolls with it.
# Deploy silently with an enrollment key: put RELAY_URL= and ENROLLMENT_KEY=
# in "/Library/Application Support/Tandem/enroll.conf" (your MDM can push the
# file first), then: installer -pkg tandem-host-VERSION-ARCH.pkg -target /
set -eu
[ "$(uname -s)" = Darwin ] || { echo "build.sh: pkgbuild runs on macOS only" >&2; exit 1; }
VERSION=${1:?version}
BIN=${2:?path to the tandem-host binary built for darwin}
ARCH=${3:-universal}
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-dist}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -d "$root/usr/local/bin" "$root/Library/LaunchDaemons" "$root/Library/LaunchAgents"
install -m 755 "$BIN" "$root/usr/local/bin/tandem-host"
install -m 644 "$here/tandem-host.plist" "$root/Library/LaunchDaemons/tandem-host.plist"
install -m 644 "$here/tandem-host-agent.plist" "$root/Library/LaunchAgents/tandem-host-agent.plist"
plutil -lint "$root/Library/LaunchDaemons/tandem-host.plist" "$root/Library/LaunchAgents/tandem-host-agent.plist"
mkdir -p "$out"
pkgbuild --root "$root" --identifier org.tandem-rc.host --version "$VERSION" \
	--scripts "$here/scripts" --install-location / "$out/tandem-host-component.pkg"
productbuild --distribution "$here/distribution.xml" --package-path "$out" "$out/tandem-host-$VERSION-$ARCH.pkg"
rm -f "$out/tandem-host-component.pkg"
echo "$out/tandem-host-$VERSION-$ARCH.pkg"
