#!/usr/bin/env bash
# The read-model rebuild benchmark: seeds a demo history of about
# BENCH_REBUILD_CASES cases (75,000 make about 1,000,000 events) on each
# backend, rebuilds every read model three times and prints, per backend,
#   BENCH rebuild <backend> events=<n> eps=<median> peak_rss_mb=<max> read_only_eps=<median>
# where read_only_eps is the ceiling measured in the same run: the same log
# read whole, with nothing done to it but a digest (`events checksum`).
# Usage: scripts/bench-rebuild.sh SQLITE_DIR [POSTGRES_URL]
set -euo pipefail
cd "$(dirname "$0")/.."

cases=${BENCH_REBUILD_CASES:-75000}
runs=${BENCH_REBUILD_RUNS:-3}
cargo build --release --locked -p aftersales-cli >&2
bin=target/release/aftersales

median() {
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

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
    local reads=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s.%N)
        "$bin" --db "$url" events checksum >/dev/null
        end=$(date +%s.%N)
        reads+=("$(echo "$events / ($end - $start)" | bc)")
    done
    echo "BENCH rebuild $backend events=$events eps=$(median "${rates[@]}") peak_rss_mb=$peak read_only_eps=$(median "${reads[@]}")"
}

sqlite_dir=${1:?a folder for the SQLite file}
bench sqlite "sqlite://$sqlite_dir/bench.db"
if [ -n "${2:-}" ]; then
    bench postgres "$2"
fi
