#!/usr/bin/env bash
# Runs `make demo`'s script as a new user would, in a scratch directory, then
# runs the commands it prints and checks their results.
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(mktemp -d /tmp/tandem-demo.XXXXXX)
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT=18080; while ! port_free $PORT; do PORT=$((PORT + 1)); done
TURN=13478; while ! port_free $TURN; do TURN=$((TURN + 1)); done

DEMO_DIR=$T/var DEMO_PORT=$PORT DEMO_TURN_PORT=$TURN DEMO_XVFB=1 setsid ./scripts/demo.sh >"$T/demo.out" 2>&1 &
DEMO=$!
stop_demo() { kill -TERM -- -$DEMO 2>/dev/null || kill $DEMO 2>/dev/null || true; wait $DEMO 2>/dev/null || true; rm -rf "$T"; }
trap stop_demo EXIT
for _ in $(seq 1 600); do
  grep -q "Press Ctrl+C" "$T/demo.out" && break
  kill -0 $DEMO 2>/dev/null || { echo "demo-smoke: demo exited early:"; cat "$T/demo.out"; exit 1; }
  sleep 0.1
done
grep -q "Press Ctrl+C" "$T/demo.out" || { echo "demo-smoke: demo did not come up in 60s"; cat "$T/demo.out"; exit 1; }

# The printed commands, run as printed (they write screen.png / after.png in cwd).
export TANDEM_CONFIG_DIR=$T/guest
sed -En '/^In another terminal/,/^(Or, on a desktop|Press Ctrl\+C)/p' "$T/demo.out" | grep '^  ' >"$T/steps.sh" # the console needs a desktop: not run here
echo "demo-smoke: running the printed steps:"; cat "$T/steps.sh"
ln -s "$PWD/bin" "$T/bin"
(cd "$T" && bash -euo pipefail "$T/steps.sh") >"$T/steps.out" 2>&1 || { cat "$T/steps.out"; echo "demo-smoke: a printed step failed"; cat "$T/var/host.log"; exit 1; }
cat "$T/steps.out"
# A newcomer's first run is clean: no warning or error from the printed
# commands (slog's level=WARN/ERROR, or any "malformed" message).
if grep -Ein 'level=(WARN|ERROR)|\b(WARN|WARNING|ERROR)\b|malformed' "$T/steps.out"; then
  echo "demo-smoke: the printed steps logged the warning or error lines above"; cat "$T/var/host.log"; exit 1
fi
[ -s "$T/screen.png" ] && [ -s "$T/after.png" ] || { echo "demo-smoke: snapshots missing"; exit 1; }
cmp -s "$T/screen.png" "$T/after.png" && { echo "demo-smoke: the input did not change the screen"; exit 1; }
echo "demo-smoke: ok (demo came up, snapshot and input work)"
