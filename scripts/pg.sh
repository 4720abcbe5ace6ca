#!/usr/bin/env bash
# A throw-away PostgreSQL cluster on 127.0.0.1 for tests and benchmarks.
#
#   scripts/pg.sh install            install the server from Debian's packages if missing
#   scripts/pg.sh start DIR PORT     create (if new) and start a cluster with its data in DIR
#   scripts/pg.sh stop DIR           stop it cleanly
#   scripts/pg.sh kill DIR           stop it like a crash (immediate mode: no shutdown checkpoint)
#   scripts/pg.sh url PORT           the URL of its postgres database
#
# PostgreSQL refuses to run as root, so the cluster runs as the postgres user
# and DIR is handed to that user.
set -euo pipefail

bin_dir() {
    local ctl
    ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$ctl" ] && dirname "$ctl"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install() {
    if [ -n "$(bin_dir)" ]; then
        return
    fi
    echo "pg.sh: installing PostgreSQL from Debian's packages" >&2
    # No default cluster: tests make their own.
    mkdir -p /etc/postgresql-common
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
}

start() {
    local dir=$1 port=$2 bin
    install
    bin=$(bin_dir)
    mkdir -p "$dir"
    chown postgres: "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_postgres "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=400 -c fsync=on -c synchronous_commit=on" \
        start >/dev/null \
        || { tail -n 30 "$dir/server.log" >&2; exit 1; }
}

stop() {
    local dir=$1 mode=${2:-fast}
    [ -f "$dir/data/postmaster.pid" ] || return 0
    as_postgres "$(bin_dir)/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null
}

case "${1:-}" in
    install) install ;;
    start) start "$2" "$3" ;;
    stop) stop "$2" fast ;;
    kill) stop "$2" immediate ;;
    url) echo "postgres://postgres@127.0.0.1:$2/postgres" ;;
    *) echo "usage: $0 install | start DIR PORT | stop DIR | kill DIR | url PORT" >&2; exit 2 ;;
esac
