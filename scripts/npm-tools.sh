#!/usr/bin/env bash
# Installs the Node.js tools the Portal's tests run (never the relay: it
# needs no Node at run time) into one directory, pinned:
#   @redocly/cli  lints /api/v1/openapi.json (relay TestOpenAPIRedoclyLint)
#   axe-core      accessibility checks in Chromium (relay/portal TestAxe*)
# The tests look in $TANDEM_NPM_DIR (default ~/.cache/tandem-npm).
# Idempotent: does nothing when the pinned versions are there.
set -euo pipefail
DIR="${TANDEM_NPM_DIR:-$HOME/.cache/tandem-npm}"
WANT=(@redocly/cli@2.77.0 axe-core@4.14.1)
mkdir -p "$DIR"
have() { # name@version installed?
  local name="${1%@*}" ver="${1##*@}"
  [ -f "$DIR/node_modules/$name/package.json" ] &&
    grep -q "\"version\": *\"$ver\"" "$DIR/node_modules/$name/package.json"
}
missing=()
for p in "${WANT[@]}"; do have "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v npm >/dev/null || { echo "npm-tools.sh: npm missing (scripts/deps.sh test installs it)" >&2; exit 1; }
[ -f "$DIR/package.json" ] || echo '{"private": true}' >"$DIR/package.json"
npm install --prefix "$DIR" --no-audit --no-fund --save-exact "${missing[@]}"
