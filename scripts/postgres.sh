#!/usr/bin/env bash
# A private PostgreSQL for the tests: Debian's server binaries, a cluster of
# its own in a temporary data directory, listening only on a Unix socket in
# that directory (no TCP port to collide with), trust authentication.
#
#   scripts/postgres.sh start   install postgresql if missing, start, print the URL
#   scripts/postgres.sh url     print the URL of the running cluster
#   scripts/postgres.sh stop    stop it and remove its data directory
#
# The URL names the database "tandem"; tests create a schema each in it.
# State (the data directory's path) is kept in $TANDEM_PG_STATE, default
# var/postgres.state in the repository. PostgreSQL refuses to run as root, so
# as root the cluster runs as the "postgres" user the package creates.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=${TANDEM_PG_STATE:-$PWD/var/postgres.state}

bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

install() {
  bindir >/dev/null && return 0
  echo "postgres: installing Debian's postgresql" >&2
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "postgres: postgresql is missing and this is not root; as root, run: apt-get install -y postgresql" >&2
      exit 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
  bindir >/dev/null || { echo "postgres: no initdb under /usr/lib/postgresql/*/bin after install" >&2; exit 1; }
}

# as runs a command as the cluster's owner: postgres when we are root.
as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

url_of() { # data directory
  local user
  user=$( [ "$(id -u)" = 0 ] && echo postgres || id -un )
  echo "postgres://$user@/tandem?host=$1&sslmode=disable"
}

running() { # data directory
  [ -n "$1" ] && [ -d "$1/data" ] && as "$(bindir)/pg_ctl" -D "$1/data" status >/dev/null 2>&1
}

cmd_start() {
  local dir=""
  [ -f "$STATE" ] && dir=$(cat "$STATE")
  if running "$dir"; then url_of "$dir"; return 0; fi
  [ -n "$dir" ] && cmd_stop
  install
  local bin
  bin=$(bindir)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/tandem-pg.XXXXXX")
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || { echo "postgres: no postgres user (the package creates it)" >&2; exit 1; }
    chown postgres: "$dir"
  fi
  mkdir -p "$(dirname "$STATE")"
  echo "$dir" >"$STATE"
  as "$bin/initdb" -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  # Tests connect over the socket only; fsync off is fine for a throw-away cluster.
  as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as "$bin/createdb" -h "$dir" tandem
  url_of "$dir"
}

cmd_url() {
  local dir=""
  [ -f "$STATE" ] && dir=$(cat "$STATE")
  running "$dir" || { echo "postgres: not running (scripts/postgres.sh start)" >&2; exit 1; }
  url_of "$dir"
}

cmd_stop() {
  [ -f "$STATE" ] || return 0
  local dir
  dir=$(cat "$STATE")
  case "$dir" in "${TMPDIR:-/tmp}"/tandem-pg.*) ;; *) echo "postgres: odd state $dir, not removing" >&2; rm -f "$STATE"; return 0 ;; esac
  if running "$dir"; then as "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true; fi
  rm -rf "$dir"
  rm -f "$STATE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  url) cmd_url ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
