#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for the tests and prints the variables to use it.
# Order: the configured address answers -> use it; a Debian cluster exists -> start it;
# PostgreSQL binaries exist -> initdb a private cluster under .cache/; else install them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host="${TEST_POSTGRES_HOST:-127.0.0.1}"
port="${TEST_POSTGRES_PORT:-5432}"

answers() { pg_isready -q -h "$host" -p "$1" >/dev/null 2>&1; }
report() { echo "export TEST_POSTGRES_HOST=$host TEST_POSTGRES_PORT=$1 TEST_POSTGRES_USER=${2:-postgres}"; }

if command -v pg_isready >/dev/null && answers "$port"; then report "$port" "${TEST_POSTGRES_USER:-postgres}"; exit 0; fi

if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; then
  version="$(ls /etc/postgresql | sort -V | tail -n 1)"
  cluster_port="$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' "/etc/postgresql/$version/main/postgresql.conf" 2>/dev/null)"
  if [ "${cluster_port:-5432}" = "$port" ]; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
    for _ in $(seq 1 30); do answers "$port" && { report "$port"; exit 0; }; sleep 1; done
  fi
fi

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$bindir" ]; then
  echo "ensure-postgres: installing PostgreSQL from the distribution's packages" >&2
  (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }) >&2
  bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi

# A private cluster on a free port, trust auth on loopback only.
data="$root/.cache/pgdata"
port=55432
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
mkdir -p "$root/.cache"
if [ ! -f "$data/PG_VERSION" ]; then
  mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
  run "$bindir/initdb" -D "$data" -U postgres --auth=trust >/dev/null
fi
if ! answers "$port"; then
  run "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp" start >&2
fi
report "$port"
