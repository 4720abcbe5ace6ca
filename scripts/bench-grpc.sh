#!/usr/bin/env bash
# The gRPC endpoint under the official Python client's batch appends and
# $all reads (tests/kurrentdb/bench.py), per backend, against a release
# build of `aftersales serve`.
#
#   scripts/bench-grpc.sh DB_URL...    each a new SQLite path or empty PostgreSQL database
#
# BENCH_GRPC_EVENTS (default 200,000) and BENCH_GRPC_BATCH (1,000) shape the
# run. Prints `BENCH grpc <backend> append_eps=<n> read_eps=<n>` per backend.
set -euo pipefail
cd "$(dirname "$0")/.."

events=${BENCH_GRPC_EVENTS:-200000}
batch=${BENCH_GRPC_BATCH:-1000}
venv_bin=$(scripts/venv.sh)
cargo build --release --locked -q -p aftersales-cli
bin=target/release/aftersales

work=$(mktemp -d /tmp/aftersales-bench-grpc.XXXXXX)
. scripts/service.sh
cleanup() {
    service_stop
    rm -rf "$work"
}
trap cleanup EXIT

for db in "$@"; do
    backend=${db%%:*}
    port=$(scripts/free-port.sh)
    grpc_port=$(scripts/free-port.sh)
    service_start "$bin" "$db" "$port" "$work/server-$backend.log" --grpc-listen "127.0.0.1:$grpc_port" --grpc-insecure
    figures=$("$venv_bin/python" tests/kurrentdb/bench.py "kurrentdb://127.0.0.1:$grpc_port?tls=false" \
        "$events" "$batch")
    echo "BENCH grpc $backend events=$events batch=$batch $figures"
    service_stop
done
