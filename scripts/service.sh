# Sourced by the scripts that test or load a running service:
#   service_start BIN DB_URL PORT LOG [serve arguments...]
#       starts `BIN --db DB_URL serve --listen 127.0.0.1:PORT ...` in the
#       background and waits until /readyz answers (or the process dies);
#   service_stop
#       stops it (SIGTERM, then waits).
# `service_pid` holds the process id while it runs.

service_pid=

service_start() {
    local bin=$1 db=$2 port=$3 log=$4
    shift 4
    "$bin" --db "$db" serve --listen "127.0.0.1:$port" "$@" >"$log" 2>&1 &
    service_pid=$!
    for _ in $(seq 1 240); do
        curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return 0
        if ! kill -0 "$service_pid" 2>/dev/null; then
            cat "$log" >&2
            service_pid=
            return 1
        fi
        sleep 0.5
    done
    echo "service.sh: the service did not become ready" >&2
    return 1
}

service_stop() {
    if [ -n "$service_pid" ]; then
        kill "$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
        service_pid=
    fi
}
