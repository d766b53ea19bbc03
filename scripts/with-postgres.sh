#!/usr/bin/env bash
# Starts a throwaway Postgres (as the postgres user, in a temporary folder, on
# a free port of 127.0.0.1), runs the given command with SLUICE_TEST_PG_URL
# pointing at it, then stops the server. Exit code: the command's.
set -euo pipefail

pg_bin=""
for dir in /usr/lib/postgresql/*/bin; do
  [ -x "$dir/pg_ctl" ] && pg_bin="$dir"
done
if [ -z "$pg_bin" ]; then
  echo "with-postgres: no Postgres server found; install postgresql (scripts/install-deps.sh does)" >&2
  exit 3
fi

run_as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

tmp=$(mktemp -d /tmp/sluice-pg.XXXXXX)
chmod 755 "$tmp"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$tmp"
port=$(python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
)

cleanup() {
  run_as_postgres "$pg_bin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

run_as_postgres "$pg_bin/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; exit 3; }
cat >>"$tmp/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$tmp'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
run_as_postgres "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 start >/dev/null ||
  { cat "$tmp/server.log" >&2; exit 3; }

export SLUICE_TEST_PG_URL="postgresql://postgres@127.0.0.1:$port/postgres"
export SLUICE_TEST_PG_DATA="$tmp/data"
export SLUICE_TEST_PG_BIN="$pg_bin"
echo "with-postgres: throwaway Postgres on 127.0.0.1:$port"
set +e
"$@"
status=$?
set -e
exit $status
