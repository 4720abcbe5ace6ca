#!/usr/bin/env bash
# Runs the benchmarks on SQLite and on a throw-away PostgreSQL cluster
# (started here as in the tests, stopped on exit). Extra arguments go to
# cargo bench, e.g. `scripts/bench.sh --bench store`; `--http` runs the HTTP
# load benchmark (scripts/bench-http.sh) instead, `--grpc` the KurrentDB
# endpoint's (scripts/bench-grpc.sh) beside the store's own figures,
# `--peer` the command workload through cqrs-es (bench-peer/cqrs-es) beside
# the product's own command benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=$(mktemp -d /tmp/aftersales-bench-pg.XXXXXX)
port=$(scripts/free-port.sh)
cleanup() {
    scripts/pg.sh stop "$pg_dir" || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
scripts/pg.sh start "$pg_dir" "$port"
export BENCH_PG
BENCH_PG=$(scripts/pg.sh url "$port")

# The command benchmark, then the same workload through cqrs-es (a
# workspace of its own, which the tests never build) in the same run.
commands_beside_peer() {
    cargo bench --locked -p aftersales-commands --bench commands
    cargo run --release --locked --manifest-path bench-peer/cqrs-es/Cargo.toml -- "$BENCH_PG"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr)"
if [ "${1:-}" = --http ]; then
    http_dir=$(mktemp -d /tmp/aftersales-bench-http-db.XXXXXX)
    psql -q "$BENCH_PG" -c "CREATE DATABASE bench_http"
    scripts/bench-http.sh "sqlite://$http_dir/http.db" "${BENCH_PG%/*}/bench_http"
    rm -rf "$http_dir"
elif [ "${1:-}" = --grpc ]; then
    # The baseline: the store's own append and read, same sizes, same run.
    BENCH_EVENTS=${BENCH_GRPC_EVENTS:-200000} BENCH_RUNS=1 \
        cargo bench --locked -p aftersales-store --bench store
    grpc_dir=$(mktemp -d /tmp/aftersales-bench-grpc-db.XXXXXX)
    psql -q "$BENCH_PG" -c "CREATE DATABASE bench_grpc"
    scripts/bench-grpc.sh "sqlite://$grpc_dir/grpc.db" "${BENCH_PG%/*}/bench_grpc"
    rm -rf "$grpc_dir"
elif [ "${1:-}" = --peer ]; then
    commands_beside_peer
elif [ $# -gt 0 ]; then
    cargo bench --locked "$@"
else
    cargo bench --locked -p aftersales-store --bench store
    commands_beside_peer
    cargo bench --locked -p aftersales-cli --bench visibility
    cargo bench --locked -p aftersales-webhooks --bench dispatch
    rebuild_dir=$(mktemp -d /tmp/aftersales-bench-rebuild.XXXXXX)
    scripts/bench-rebuild.sh "$rebuild_dir" "$BENCH_PG"
    rm -rf "$rebuild_dir"
fi
