#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite (the shared-study tests of justfit tune).
#   tests/postgres.sh start DIR   Debian's postgresql package (apt-get installs it when missing, as root),
#                                 a new cluster in DIR listening on 127.0.0.1 at a free port, a database
#                                 'justfit' (user justfit, trust auth, loopback only); writes its URL to DIR/url.
#   tests/postgres.sh stop DIR    stops that server and removes DIR.
# PostgreSQL refuses to run as root: as root, the server runs as the 'postgres' user the package creates.
set -euo pipefail
cmd=${1:?start or stop}
dir=${2:?a folder for the cluster}

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  return 1
}

as_owner=()
if [ "$(id -u)" = 0 ]; then as_owner=(runuser -u postgres --); fi

case "$cmd" in
  start)
    if ! bin=$(bindir); then
      if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "no PostgreSQL (initdb) and cannot install it (needs root and apt-get)" >&2; exit 1
      fi
      apt-get install -y -q postgresql >/dev/null 2>&1 || \
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null 2>&1; }
      bin=$(bindir)
    fi
    if [ -d "$dir/data" ]; then "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m immediate >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
      chown postgres "$dir"
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U justfit --auth=trust >/dev/null
    "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null
    "${as_owner[@]}" "$bin/createdb" -h 127.0.0.1 -p "$port" -U justfit justfit
    echo "postgresql://justfit@127.0.0.1:$port/justfit" > "$dir/url"
    ;;
  stop)
    if [ -d "$dir/data" ] && bin=$(bindir); then
      "${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" stop -m fast >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: tests/postgres.sh start|stop DIR" >&2; exit 2
    ;;
esac
