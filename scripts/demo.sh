#!/usr/bin/env bash
# make demo: a relay on embedded defaults (SQLite under ./var, embedded TURN),
# an owner account and a deployment package, a Host enrolled and running on
# this $DISPLAY (or on its own Xvfb with a few windows), then it prints what to
# run next. Ctrl+C stops everything it started.
# Env: DEMO_DIR (default ./var), DEMO_PORT (8080), DEMO_TURN_PORT (3478),
#      DEMO_XVFB=1 to use a private Xvfb even when $DISPLAY is set.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/bin
VAR=${DEMO_DIR:-$ROOT/var}
PORT=${DEMO_PORT:-8080}
TURN_PORT=${DEMO_TURN_PORT:-3478}
URL=http://127.0.0.1:$PORT
OWNER=${DEMO_OWNER:-owner@tandem.example}
mkdir -p "$VAR"
chmod 700 "$VAR"

# Host and guest run on this machine, so ICE uses loopback only.
export TANDEM_ICE_LOOPBACK=1

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if port_busy "$PORT"; then
  echo "demo: port $PORT is in use; run with DEMO_PORT=another port" >&2
  exit 1
fi

# 1. Owner account (the password is generated once and kept in $VAR).
if [ ! -s "$VAR/owner-password" ]; then
  umask 077
  printf 'Tdm%s7' "$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 12)" > "$VAR/owner-password"
fi
PASSWORD=$(cat "$VAR/owner-password")
"$BIN/tandem-relay" admin --data "$VAR/relay" init --owner "$OWNER" --password "$PASSWORD" >/dev/null

# 2. The relay.
"$BIN/tandem-relay" serve --listen "127.0.0.1:$PORT" --data "$VAR/relay" \
  --turn-listen "127.0.0.1:$TURN_PORT" --turn-allow-peer 127.0.0.0/8 >"$VAR/relay.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  port_busy "$PORT" && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "demo: the relay did not start:" >&2; cat "$VAR/relay.log" >&2; exit 1; }
  sleep 0.1
done

# 3. A deployment package and an enrolled Host.
if [ ! -s "$VAR/host/host.json" ]; then
  KEY=$("$BIN/tandem-relay" admin --data "$VAR/relay" package create --name "Demo package" | tail -n 1)
  "$BIN/tandem-host" enroll --relay "$URL" --key "$KEY" --config "$VAR/host" >/dev/null
fi

# 4. A screen: this one, or a private Xvfb with a few windows.
if [ -n "${DISPLAY:-}" ] && [ "${DEMO_XVFB:-0}" != 1 ] && xdpyinfo >/dev/null 2>&1; then
  SCREEN=$DISPLAY
  WHERE="your display $DISPLAY"
  # On a real desktop, only move the pointer: typing would land in whatever
  # window is under it.
  INPUT="--move 300,200"
else
  # Xvfb picks a free display itself and writes its number when ready.
  : >"$VAR/xvfb.display"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -noreset -nolisten tcp 3>"$VAR/xvfb.display" >"$VAR/xvfb.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do [ -s "$VAR/xvfb.display" ] && break; sleep 0.1; done
  [ -s "$VAR/xvfb.display" ] || { echo "demo: Xvfb did not start:" >&2; cat "$VAR/xvfb.log" >&2; exit 1; }
  SCREEN=:$(tr -d '[:space:]' <"$VAR/xvfb.display")
  DISPLAY=$SCREEN xterm -geometry 90x24+40+40 -title "Tandem demo" \
    -e sh -c 'echo "Hello from the Tandem demo host."; echo "Type here from the guest:"; exec sh' >/dev/null 2>&1 &
  pids+=($!)
  DISPLAY=$SCREEN xclock -geometry 180x180+900+60 >/dev/null 2>&1 &
  pids+=($!)
  DISPLAY=$SCREEN xeyes -geometry 200x120+900+320 >/dev/null 2>&1 &
  pids+=($!)
  WHERE="a private X server $SCREEN (xterm, xclock, xeyes)"
  INPUT="--move 300,200 --click left --type 'echo hello from Tandem' --key Enter"
fi

"$BIN/tandem-host" run --config "$VAR/host" --display "$SCREEN" >"$VAR/host.log" 2>&1 &
pids+=($!)
DEVICE=$(hostname)
for _ in $(seq 1 100); do
  grep -q "connected to relay" "$VAR/host.log" 2>/dev/null && break
  kill -0 "${pids[-1]}" 2>/dev/null || { echo "demo: the host did not start:" >&2; cat "$VAR/host.log" >&2; exit 1; }
  sleep 0.1
done

cat <<MSG

Tandem demo is running: relay $URL (data in $VAR), Host "$DEVICE" serving $WHERE.
Owner account: $OWNER, password $PASSWORD (kept in $VAR/owner-password).
Logs: $VAR/relay.log, $VAR/host.log

In another terminal, from $ROOT:

  export TANDEM_PASSWORD='$PASSWORD' TANDEM_ICE_LOOPBACK=1
  ./bin/tandem-guest login --relay $URL --user $OWNER
  ./bin/tandem-guest devices
  ./bin/tandem-guest snapshot $DEVICE -o screen.png
  ./bin/tandem-guest input $DEVICE $INPUT
  ./bin/tandem-guest snapshot $DEVICE -o after.png

Or, on a desktop, open the console (relay $URL, $OWNER, the password above):

  TANDEM_ICE_LOOPBACK=1 ./bin/tandem-guest

Press Ctrl+C here to stop the demo.
MSG
wait
