#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on 127.0.0.1 and a free port, in DIR, owned by the `postgres`
# user (initdb refuses root). Prints the URL on stdout. `scripts/postgres.sh stop DIR` ends it.
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: postgres.sh start|stop DIR}")
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  stop)
    [ -f "$dir/db/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/db" -m fast stop >/dev/null 2>&1 || true
    exit 0 ;;
  start) ;;
  *) echo "usage: postgres.sh start|stop DIR" >&2; exit 2 ;;
esac
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
if [ ! -f "$dir/db/PG_VERSION" ]; then
  as_pg "$bin/initdb" -D "$dir/db" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
fi
as_pg "$bin/pg_ctl" -D "$dir/db" -w -t 30 -l "$dir/server.log" \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$port/postgres"
