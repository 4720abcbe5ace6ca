#!/usr/bin/env bash
# The read-model rebuild benchmark: seeds a demo history of about
# BENCH_REBUILD_CASES cases (75,000 make about 1,000,000 events) on each
# backend, rebuilds every read model three times and prints, per backend,
#   BENCH rebuild <backend> events=<n> eps=<median> peak_rss_mb=<max>
# Usage: scripts/bench-rebuild.sh SQLITE_DIR [POSTGRES_URL]
set -euo pipefail
cd "$(dirname "$0")/.."

cases=${BENCH_REBUILD_CASES:-75000}
runs=${BENCH_REBUILD_RUNS:-3}
cargo build --release --locked -p aftersales-cli >&2
bin=target/release/aftersales

bench() {
    local backend=$1 url=$2
    # Seeding is not what is measured: it skips the disk syncs.
    "$bin" --unsafe-fast --db "$url" demo seed --cases "$cases" --workers 32 >&2
    local events
    events=$("$bin" --db "$url" projections status --format csv | awk -F, 'NR==2 {print $5}')
    local rates=() peak=0
    for _ in $(seq "$runs"); do
        local out start end rss
        start=$(date +%s.%N)
        out=$(/usr/bin/time -f "%M" "$bin" --db "$url" projections rebuild --all --restart 2>&1 >/dev/null | tail -1)
        end=$(date +%s.%N)
        rss=$((out / 1024))
        rates+=("$(echo "$events / ($end - $start)" | bc)")
        [ "$rss" -gt "$peak" ] && peak=$rss
        echo "rebuild $backend: ${rates[-1]} events/s, ${rss} MB" >&2
    done
    local median
    median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "BENCH rebuild $backend events=$events eps=$median peak_rss_mb=$peak"
}

sqlite_dir=${1:?a folder for the SQLite file}
bench sqlite "sqlite://$sqlite_dir/bench.db"
if [ -n "${2:-}" ]; then
    bench postgres "$2"
fi
