#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL server on loopback and TEST_DB_URL set,
# so the database tests run on PostgreSQL as well as SQLite.
#
# - TEST_DB_URL already set: use that server, start nothing.
# - PostgreSQL binaries installed: initdb a fresh cluster (as root: under the
#   postgres user's home, since /tmp and /var/tmp may be 0700), start it on a free
#   loopback port, run the command, stop and delete the cluster whatever happens.
# - No binaries: run without PostgreSQL, unless CI=true, where that is an error.
set -euo pipefail

if [[ -n "${TEST_DB_URL:-}" ]]; then
  exec "$@"
fi

initdb_bin=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
if [[ -z "$initdb_bin" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "with-postgres: PostgreSQL is not installed (CI requires it; .ci/run installs it)" >&2
    exit 1
  fi
  echo "with-postgres: PostgreSQL not installed; database tests run on SQLite only" >&2
  exec "$@"
fi
pg_bin=$(dirname "$initdb_bin")

as_pg=()
if [[ "$(id -u)" == "0" ]]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  as_pg=(runuser -u postgres --)
fi

if [[ ${#as_pg[@]} -gt 0 ]]; then
  # As root the server runs as `postgres`, which must reach the cluster directory:
  # /tmp and /var/tmp may be 0700, so use a directory under postgres' own home.
  pg_home=$(getent passwd postgres | cut -d: -f6)
  [[ -n "$pg_home" && "$pg_home" != "/nonexistent" ]] || pg_home=/var/lib/postgresql
  mkdir -p "$pg_home/connections-test-clusters"
  chown postgres "$pg_home" "$pg_home/connections-test-clusters"
  work=$(mktemp -d "$pg_home/connections-test-clusters/pg.XXXXXX")
  chown postgres "$work"
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/connections-pg.XXXXXX")
fi
chmod 700 "$work"
password=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

printf '%s\n' "$password" > "$work/pw"
[[ ${#as_pg[@]} -gt 0 ]] && chown postgres "$work/pw"
"${as_pg[@]}" "$initdb_bin" -D "$work/data" -U postgres --pwfile="$work/pw" \
  --auth=scram-sha-256 -E UTF8 >"$work/initdb.log" 2>&1 \
  || { cat "$work/initdb.log" >&2; exit 1; }
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$work/data" -l "$work/server.log" -w -t 60 \
  -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
  start >/dev/null || { cat "$work/server.log" >&2; exit 1; }

export TEST_DB_URL="postgresql+psycopg://postgres:${password}@127.0.0.1:${port}/postgres"
echo "with-postgres: PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
set +e
"$@"
status=$?
set -e
exit $status
