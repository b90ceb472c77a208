#!/usr/bin/env bash
# Installs the Host's deb on this machine (root, dpkg) against a private
# relay on 127.0.0.1 and checks the whole life cycle: a bad enrollment key
# (installed, not enrolled, a clear message), enrollment from a pre-seeded
# /etc/tandem/enroll.conf, the device online at the relay, remove (service
# gone, identity kept), purge (nothing left), and the install script a
# deployment package's download link serves. Then lists the rpms and checks
# the other debs' contents. Expects `make packages` to have filled dist/.
# Refuses to run where a tandem-host package or /etc/tandem already exists.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$SECONDS

fail() { echo "test-packages: FAIL: $*" >&2; exit 1; }
ok() { echo "ok  $*"; }

[ "$(id -u)" = 0 ] || fail "needs root (installs a deb with dpkg)"
DIST=${DIST:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
deb=$(ls "$DIST"/tandem-host_*_amd64.deb 2>/dev/null | head -n 1 || true)
[ -n "$deb" ] || fail "no $DIST/tandem-host_*.deb; run make packages"
if dpkg-query -W -f='${Status}' tandem-host 2>/dev/null | grep -q installed; then
  fail "a tandem-host package is installed here already; not touching it"
fi
[ ! -e /etc/tandem ] || fail "/etc/tandem exists here already; not touching it"
[ ! -e /etc/init.d/tandem-host ] || fail "/etc/init.d/tandem-host exists here already; not touching it"

tmp=$(mktemp -d /tmp/tandem-pkgtest.XXXXXX)
relay_pid=""
cleanup() {
  set +e
  if dpkg-query -W -f='${Status}' tandem-host 2>/dev/null | grep -q installed; then
    dpkg --purge tandem-host >/dev/null 2>&1
  fi
  if [ -n "${purge_others:-}" ]; then dpkg --purge tandem-relay tandem-guest >/dev/null 2>&1; fi
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# A private relay on a free port.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
RELAY=bin/tandem-relay
$RELAY admin --data "$tmp/relay" init --owner owner@example.com --password 'Correct-Horse-Battery-9' >/dev/null
$RELAY serve --listen "127.0.0.1:$port" --data "$tmp/relay" --turn-listen off --downloads "$DIST" >"$tmp/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$relay_pid" 2>/dev/null || { cat "$tmp/relay.log" >&2; fail "the relay did not start"; }
  sleep 0.1
done
key=$($RELAY admin --data "$tmp/relay" package create --name "Package test" | tail -n 1)
[ -n "$key" ] || fail "no enrollment key"

installed() { dpkg-query -W -f='${Status}' tandem-host 2>/dev/null | grep -q "install ok installed"; }
host_running() { pgrep -f '^/usr/bin/tandem-host run' >/dev/null; }

# 1. A bad key: the package installs, the enrollment fails with a clear
# message, nothing is enrolled and no service is set up.
if ! out=$(TANDEM_RELAY_URL="$url" TANDEM_ENROLLMENT_KEY=not-a-valid-key dpkg -i "$deb" 2>&1); then
  echo "$out" >&2; fail "dpkg -i with a bad key failed the transaction"
fi
installed || fail "not installed after a bad key"
grep -q "ENROLLMENT FAILED" <<<"$out" || { echo "$out" >&2; fail "no clear message for a bad key"; }
grep -q "tandem-host install --relay URL --key KEY" <<<"$out" || { echo "$out" >&2; fail "the message does not say what to do"; }
[ ! -e /etc/tandem/host.json ] || fail "enrolled with a bad key?"
[ ! -e /etc/init.d/tandem-host ] || fail "a service was installed without an enrollment"
echo "$out" | grep '^tandem-host' | sed 's/^/    /'
ok "bad key: installed, not enrolled"

# Files and unit.
for f in /usr/bin/tandem-host /lib/systemd/system/tandem-host.service /usr/share/doc/tandem-host/enroll.conf.example; do
  grep -qx "$f" <<<"$(dpkg -L tandem-host)" || fail "$f not in dpkg -L"
  [ -e "$f" ] || fail "$f missing"
done
[ -d /etc/tandem ] && [ "$(stat -c %a /etc/tandem)" = 700 ] || fail "/etc/tandem is not a 0700 directory"
grep -q '^ExecStart=/usr/bin/tandem-host run --service tandem-host --config /etc/tandem$' /lib/systemd/system/tandem-host.service ||
  fail "unit ExecStart"
got=$(/usr/bin/tandem-host version)
[ "$got" = "tandem-host $VERSION" ] || fail "tandem-host version: got '$got', want 'tandem-host $VERSION'"
ok "files, unit, /etc/tandem 0700, version $VERSION"
dpkg --purge tandem-host >/dev/null
[ ! -e /etc/tandem ] || fail "/etc/tandem left after purge"

# 2. Pre-seeded enroll.conf: enrolls at install time and starts the service
# (SysV here: no systemd running; the service `tandem-host install` sets up).
install -d -m 700 /etc/tandem
printf 'RELAY_URL=%s\nENROLLMENT_KEY="%s"\n' "$url" "$key" >/etc/tandem/enroll.conf
chmod 600 /etc/tandem/enroll.conf
out=$(dpkg -i "$deb" 2>&1) || { echo "$out" >&2; fail "dpkg -i with enroll.conf"; }
[ -s /etc/tandem/host.json ] || { echo "$out" >&2; fail "not enrolled from enroll.conf"; }
[ ! -e /etc/tandem/enroll.conf ] || fail "enroll.conf (a secret) left after enrolling"
device=$(python3 -c 'import json; print(json.load(open("/etc/tandem/host.json"))["device_id"])')
if [ -d /run/systemd/system ]; then
  systemctl is-active -q tandem-host || fail "service not active"
else
  [ -x /etc/init.d/tandem-host ] || fail "no SysV script"
  ls /etc/rc2.d/ | grep -q tandem-host || fail "no rc links"
fi
for _ in $(seq 1 300); do host_running && break; sleep 0.1; done
host_running || { /usr/bin/tandem-host status; cat /var/log/tandem-host.err 2>/dev/null; fail "service process not running"; }
ok "enroll.conf: enrolled as $device, service running ($(/usr/bin/tandem-host status | head -n 1))"

seen=""
for _ in $(seq 1 300); do
  line=$($RELAY admin --data "$tmp/relay" device list | grep "^$device" || true)
  if [ -n "$line" ] && ! grep -q never <<<"$line"; then seen=$line; break; fi
  sleep 0.1
done
[ -n "$seen" ] || { $RELAY admin --data "$tmp/relay" device list; cat /var/log/tandem-host.err 2>/dev/null; fail "device never seen online"; }
ok "online at the relay: $(tr -s ' ' <<<"$seen")"

# An upgrade (the same deb again) keeps the enrollment and restarts the service.
dpkg -i "$deb" >/dev/null 2>&1 || fail "reinstall over an enrolled host"
for _ in $(seq 1 300); do host_running && break; sleep 0.1; done
host_running || fail "service not running after a reinstall"
grep -q "$device" /etc/tandem/host.json || fail "reinstall changed the identity"
ok "reinstall: same device, service running again"

# 3. Remove: service stopped and gone, identity kept.
dpkg -r tandem-host >/dev/null 2>&1 || fail "dpkg -r"
for _ in $(seq 1 100); do host_running || break; sleep 0.1; done
host_running && fail "service still running after remove"
[ ! -e /etc/init.d/tandem-host ] || fail "init script left after remove"
ls /etc/rc?.d/ | grep -q tandem-host && fail "rc links left after remove"
[ -s /etc/tandem/host.json ] && [ -s /etc/tandem/device.key ] || fail "identity not kept on remove"
[ ! -e /usr/bin/tandem-host ] || fail "binary left after remove"
ok "remove: service stopped and removed, identity kept"

# 4. Purge: nothing left.
dpkg --purge tandem-host >/dev/null 2>&1 || fail "dpkg --purge"
[ -z "$(dpkg -L tandem-host 2>/dev/null)" ] || fail "dpkg -L not empty after purge"
[ ! -e /etc/tandem ] || fail "/etc/tandem left after purge"
[ ! -e /etc/init.d/tandem-host ] || fail "init script left"
ls /etc/rc?.d/ | grep -q tandem-host && fail "rc links left"
ls /var/log/tandem-host.* /var/run/tandem-host.pid >/dev/null 2>&1 && fail "logs or pid file left"
host_running && fail "a tandem-host process is left"
ok "purge: nothing left"

# 5. The key in the environment; then a key that no longer works (its
# package allows one device, used up by the first install).
key1=$($RELAY admin --data "$tmp/relay" package create --name "One device" --max-devices 1 | tail -n 1)
out=$(TANDEM_RELAY_URL="$url" TANDEM_ENROLLMENT_KEY="$key1" dpkg -i "$deb" 2>&1) || { echo "$out" >&2; fail "dpkg -i with env key"; }
[ -s /etc/tandem/host.json ] || { echo "$out" >&2; fail "not enrolled from the environment"; }
for _ in $(seq 1 300); do host_running && break; sleep 0.1; done
host_running || fail "service not running after env enrollment"
ok "environment key: enrolled, service running"
dpkg --purge tandem-host >/dev/null 2>&1 || fail "dpkg --purge"
out=$(TANDEM_RELAY_URL="$url" TANDEM_ENROLLMENT_KEY="$key1" dpkg -i "$deb" 2>&1) || { echo "$out" >&2; fail "dpkg -i with a used-up key failed the transaction"; }
installed || fail "not installed after a used-up key"
grep -q "ENROLLMENT FAILED" <<<"$out" || { echo "$out" >&2; fail "no clear message for a used-up key"; }
[ ! -e /etc/tandem/host.json ] && [ ! -e /etc/init.d/tandem-host ] || fail "enrolled with a used-up key?"
echo "$out" | grep '^tandem-host: installer' | sed 's/^/    /'
ok "used-up key: installed, not enrolled"
dpkg --purge tandem-host >/dev/null 2>&1 || fail "dpkg --purge"
[ ! -e /etc/tandem ] || fail "/etc/tandem left after purge"

# 6. The download link (spec 4.5.2.2): the install page, then its Linux
# install script, piped to sh as the page says: it fetches this deb from the
# relay, enrolls into the link's package and starts the service.
key2=$($RELAY admin --data "$tmp/relay" package create --name "Web link" | tail -n 1)
page=$(curl -fsS -A 'Mozilla/5.0 (X11; Linux x86_64)' "$url/d/$key2?understood=1") || fail "install page"
grep -q "/d/$key2/install.sh | sudo sh" <<<"$page" || { echo "$page" >&2; fail "the page does not offer the Linux install command"; }
grep -q "$(basename "$deb")" <<<"$page" || fail "the page does not offer $(basename "$deb")"
out=$(curl -fsSL "$url/d/$key2/install.sh" | sh 2>&1) || { echo "$out" >&2; fail "install.sh"; }
installed || fail "install.sh did not install the deb"
[ -s /etc/tandem/host.json ] || { echo "$out" >&2; fail "install.sh did not enroll"; }
[ ! -e /etc/tandem/enroll.conf ] || fail "install.sh left enroll.conf (a secret)"
for _ in $(seq 1 300); do host_running && break; sleep 0.1; done
host_running || fail "service not running after install.sh"
$RELAY admin --data "$tmp/relay" package list | grep "Web link" | grep -q " 1/∞" || { $RELAY admin --data "$tmp/relay" package list; fail "the device is not in the link's package"; }
ok "download link: install.sh installed, enrolled into its package, service running"
bad=$(curl -sS -o /dev/null -w '%{http_code}' "$url/d/AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA/install.sh")
[ "$bad" = 404 ] || fail "an unknown key's install.sh: HTTP $bad"
dpkg --purge tandem-host >/dev/null 2>&1 || fail "dpkg --purge"
[ ! -e /etc/tandem ] || fail "/etc/tandem left after purge"

# 7. The other packages' contents, the rpms' headers and lists.
list=$(dpkg-deb -c "$DIST"/tandem-relay_*_amd64.deb)
for want in /usr/bin/tandem-relay /lib/systemd/system/tandem-relay.service /etc/default/tandem-relay /var/lib/tandem; do
  grep -q " \.$want/\?$" <<<"$list" || fail "relay deb lacks $want"
done
list=$(dpkg-deb -c "$DIST"/tandem-guest_*_amd64.deb)
for want in /usr/bin/tandem-guest /usr/share/applications/tandem-guest.desktop /usr/share/icons/hicolor/scalable/apps/tandem-guest.svg; do
  grep -q " \.$want$" <<<"$list" || fail "guest deb lacks $want"
done
ok "relay and guest debs: contents"

# The relay and Guest debs install and purge cleanly too (where this
# machine has no tandem user, relay or guest package of its own).
if ! getent passwd tandem >/dev/null && [ ! -e /var/lib/tandem ] && ! dpkg-query -W tandem-relay >/dev/null 2>&1 &&
  ! dpkg-query -W tandem-guest >/dev/null 2>&1; then
  purge_others=1
  dpkg -i "$DIST"/tandem-relay_*_amd64.deb "$DIST"/tandem-guest_*_amd64.deb >"$tmp/other.log" 2>&1 || { cat "$tmp/other.log" >&2; fail "relay/guest install"; }
  [ "$(stat -c %U:%a /var/lib/tandem)" = tandem:750 ] || fail "/var/lib/tandem not tandem's 0750"
  /usr/bin/tandem-relay --help >/dev/null || fail "tandem-relay does not run"
  /usr/bin/tandem-guest --help >/dev/null || fail "tandem-guest does not run"
  if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate /usr/share/applications/tandem-guest.desktop || fail "desktop entry"
  fi
  dpkg --purge tandem-relay tandem-guest >/dev/null 2>&1 || fail "relay/guest purge"
  ! getent passwd tandem >/dev/null || fail "tandem user left after purge"
  [ ! -e /var/lib/tandem ] && [ ! -e /usr/share/applications/tandem-guest.desktop ] || fail "relay/guest files left after purge"
  ok "relay and guest debs: install (tandem user, /var/lib/tandem 0750), purge (nothing left)"
else
  echo "skip relay/guest install: this machine has a tandem user, /var/lib/tandem or those packages"
fi
if command -v rpm >/dev/null 2>&1; then
  for p in tandem-host tandem-relay tandem-guest; do
    r=$(ls "$DIST/$p"-*.x86_64.rpm | head -n 1)
    echo "== $r"
    rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n' "$r" 2>/dev/null
    rpm -qlp "$r" 2>/dev/null | sed 's/^/   /'
    scripts=$(rpm -qp --scripts "$r" 2>/dev/null)
    grep -q 'postinstall scriptlet' <<<"$scripts" || [ "$p" = tandem-guest ] || fail "$r has no scriptlets"
  done
  list=$(rpm -qlp "$DIST"/tandem-host-*.rpm 2>/dev/null)
  grep -qx /usr/bin/tandem-host <<<"$list" || fail "host rpm lacks the binary"
  ok "rpms listed"
else
  echo "skip rpm listing: no rpm tool (apt-get install rpm)"
fi
msi=$(ls "$DIST"/tandem-host-*-x64.msi 2>/dev/null | head -n 1 || true)
if [ -n "$msi" ] && command -v msiinfo >/dev/null 2>&1; then
  TANDEM_TEST_MSI="$PWD/$msi" TANDEM_TEST_VERSION="$VERSION" go test -count=1 -run 'TestDistMSI' -v ./packaging/ | grep -E '^(--- |ok|FAIL|PASS)' ||
    fail "MSI inspection"
  ok "MSI $msi: service, properties, custom actions, upgrade code, tandem-host.exe"
else
  echo "skip MSI inspection: no MSI in $DIST (make msi) or no msitools"
fi
echo "test-packages: PASS in $((SECONDS - t0)) s"
