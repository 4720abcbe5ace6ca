#!/usr/bin/env bash
# HTTP load benchmark of `aftersales serve` on loopback, per backend:
#   0. GET /healthz, the floor of the HTTP stack and the load generator;
#   1. commands alone, closed loop (wrk, CONNECTIONS connections);
#   2. the mixed workload, 70% reads of case views and lists, 30% commands;
#      each workload starts with the read models caught up with the log
#      (the catch-up after the closed-loop commands is a line of its own);
#   3. registrations at a fixed rate, BENCH_HTTP_RATE (default 2,500/s;
#      oha, with latency correction, so a stalled server shows in the
#      percentiles).
# Every line carries the /healthz floor of the same run (healthz_rps=).
# wrk comes from Debian's packages, oha from crates.io (into target/tools).
#
#   scripts/bench-http.sh DB_URL...    each a new SQLite path or empty PostgreSQL database
#
# BENCH_HTTP_SECONDS (default 20) and BENCH_HTTP_CONNECTIONS (default 64)
# shape the runs; AFTERSALES_BIN names the binary to measure.
# Prints one `BENCH http ...` line per run.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${BENCH_HTTP_SECONDS:-20}
connections=${BENCH_HTTP_CONNECTIONS:-64}

if ! command -v wrk >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
oha=target/tools/bin/oha
if [ ! -x "$oha" ]; then
    # A version requirement in the form every cargo release parses.
    cargo install --locked --quiet --root target/tools oha --version '^1'
fi
# AFTERSALES_BIN measures another build (an earlier commit's, for a
# before-and-after in the same session); by default this tree's.
bin=${AFTERSALES_BIN:-target/release/aftersales}
if [ -z "${AFTERSALES_BIN:-}" ]; then
    cargo build --release --locked -q -p aftersales-cli
fi

work=$(mktemp -d /tmp/aftersales-bench-http.XXXXXX)
. scripts/service.sh
cleanup() {
    service_stop
    rm -rf "$work"
}
trap cleanup EXIT

# Waits until the read models have caught up with the log, so that each
# workload is measured with its own work alone; prints the catch-up.
settle() { python3 scripts/bench-http/settle.py "$port" "$token" "$work/register.json"; }

# wrk's summary line → "rps=… p50_ms=… p99_ms=… max_ms=… requests=… errors=…"
run_wrk() {
    local read_share=$1 duration=${2:-$seconds}
    wrk -t2 -c"$connections" -d"${duration}s" -s scripts/bench-http/workload.lua \
        "$base" -- "$token" "$work/ids" "$read_share" | sed -n 's/^RESULT //p'
}

for db in "$@"; do
    backend=${db%%:*}
    port=$(scripts/free-port.sh)
    base=http://127.0.0.1:$port
    token=$("$bin" --db "$db" keys create --role agent --name bench | tail -n 1)
    service_start "$bin" "$db" "$port" "$work/server-$backend.log" --demo-cases 1000 --rate-limit 1000000
    # Open cases for the calls to be logged on (the demo's are mostly closed).
    sed -n 's/^local register = \[\[\(.*\)\]\]$/\1/p' scripts/bench-http/workload.lua |
        sed 's/TB%s/TB-BENCH-FIXED/' >"$work/register.json"
    python3 - "$port" "$token" "$work/register.json" >"$work/ids" <<'PY'
import http.client, json, sys
port, token, body = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
connection = http.client.HTTPConnection("127.0.0.1", int(port))
for _ in range(500):
    connection.request("POST", "/v1/cases", body,
                       {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 201, response.read()
    print(json.loads(response.read())["id"])
PY

    # Warm the caches and the connection pools; not reported.
    run_wrk 0.7 5 >/dev/null

    # The floor: what the HTTP stack and the load generator manage with no
    # work behind the route, on the same machine in the same run.
    floor=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$base/healthz" |
        awk '/Requests\/sec/ { print int($2) }')
    echo "BENCH http $backend workload=healthz connections=$connections rps=$floor"

    settle >/dev/null
    commands=$(run_wrk 0)
    echo "BENCH http $backend workload=commands connections=$connections $commands healthz_rps=$floor"
    # Closed-loop commands outrun the read models: how far behind they
    # were left, and how fast they caught up with nothing else to do.
    echo "BENCH http $backend workload=catch-up-after-commands $(settle)"
    mixed=$(run_wrk 0.7)
    echo "BENCH http $backend workload=mixed connections=$connections $mixed healthz_rps=$floor"
    settle >/dev/null

    rate=${BENCH_HTTP_RATE:-2500}
    "$oha" --no-tui --output-format json -z "${seconds}s" -q "$rate" -c "$connections" --latency-correction --wait-ongoing-requests-after-deadline \
        -m POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
        -D "$work/register.json" "$base/v1/cases" >"$work/fixed.json"
    python3 scripts/oha-summary.py "$work/fixed.json" \
        "BENCH http $backend workload=commands-fixed-rate connections=$connections target_rps=$rate" \
        "healthz_rps=$floor" || true

    service_stop
done
