#!/usr/bin/env bash
# Commands at a fixed rate against `aftersales serve` on loopback (oha, with
# latency correction): first SOAK_FIXED_SECONDS (default 60) reported as
# p50/p99/max and non-2xx, then a soak of SOAK_MINUTES (default 10) at the
# same rate while the service's resident memory is sampled every 10 s.
# Fails on any non-2xx answer, or if memory grew by 10% or more from the
# first soak minute (warm caches) to the last (medians of their samples).
#
#   scripts/soak.sh [DB_URL]      a new SQLite path (default) or an empty PostgreSQL database
#
# SOAK_RATE (default 1000 commands/s) is about half of the command
# capacity `make bench-http` measured on this machine. SOAK_SERVE_ARGS adds
# arguments to `aftersales serve` (e.g. `--scheduler-interval 0`).
set -euo pipefail
cd "$(dirname "$0")/.."

rate=${SOAK_RATE:-1000}
fixed_seconds=${SOAK_FIXED_SECONDS:-60}
minutes=${SOAK_MINUTES:-10}

oha=target/tools/bin/oha
if [ ! -x "$oha" ]; then
    # A version requirement in the form every cargo release parses.
    cargo install --locked --quiet --root target/tools oha --version '^1'
fi
cargo build --release --locked -q -p aftersales-cli
bin=target/release/aftersales

work=$(mktemp -d /tmp/aftersales-soak.XXXXXX)
db=${1:-sqlite://$work/soak.db}
backend=${db%%:*}
. scripts/service.sh
cleanup() {
    service_stop
    rm -rf "$work"
}
trap cleanup EXIT

port=$(scripts/free-port.sh)
base=http://127.0.0.1:$port
token=$("$bin" --db "$db" keys create --role agent --name soak | tail -n 1)
# shellcheck disable=SC2086 # SOAK_SERVE_ARGS is a list of arguments
service_start "$bin" "$db" "$port" "$work/server.log" --rate-limit 1000000 ${SOAK_SERVE_ARGS:-}
sed -n 's/^local register = \[\[\(.*\)\]\]$/\1/p' scripts/bench-http/workload.lua |
    sed 's/TB%s/TB-SOAK-FIXED/' >"$work/register.json"

load() {
    local seconds=$1 report=$2
    "$oha" --no-tui --output-format json -z "${seconds}s" -q "$rate" -c 64 \
        --latency-correction --wait-ongoing-requests-after-deadline \
        -m POST -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
        -D "$work/register.json" "$base/v1/cases" >"$report"
}
summarise() { python3 scripts/oha-summary.py "$1" "$2"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$service_pid/status"; }
# Where resident memory lives (heap and stacks, mapped files, shared memory
# such as SQLite's WAL index), to tell a leak from caches filling.
rss_parts() { awk '/^Rss(Anon|File|Shmem):/ { printf "%s%s", sep, $2; sep = "/" }' "/proc/$service_pid/status"; }

status=0
load "$fixed_seconds" "$work/fixed.json"
summarise "$work/fixed.json" "SOAK $backend fixed-rate target_rps=$rate seconds=$fixed_seconds" || status=1

load $((minutes * 60)) "$work/soak.json" &
oha_pid=$!
samples=()
parts=()
for _ in $(seq 1 $((minutes * 6))); do
    sleep 10
    samples+=("$(rss_kib)")
    parts+=("$(rss_parts)")
done
wait "$oha_pid"
summarise "$work/soak.json" "SOAK $backend soak target_rps=$rate minutes=$minutes" || status=1
# Medians of the first minute's six samples and of the last minute's: one
# sample against another would also measure where each caught the
# allocator's and the caches' ups and downs.
read -r first_minute last_minute growth < <(python3 - "${samples[@]}" <<'PY'
import statistics, sys
samples = [int(s) for s in sys.argv[1:]]
first, last = statistics.median(samples[:6]), statistics.median(samples[-6:])
print(int(first), int(last), f"{(last - first) * 100 / first:.1f}")
PY
)
echo "SOAK $backend rss_kib_median_first_minute=$first_minute rss_kib_median_last_minute=$last_minute growth_percent=$growth samples=${samples[*]}"
echo "SOAK $backend rss_kib_anon/file/shmem=${parts[*]}"
python3 -c "import sys; sys.exit(0 if $last_minute < $first_minute * 1.10 else 1)" || {
    echo "soak.sh: resident memory grew by 10% or more" >&2
    status=1
}
grep -q "panicked" "$work/server.log" && { echo "soak.sh: the server panicked" >&2; status=1; }
exit "$status"
