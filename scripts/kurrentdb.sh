#!/usr/bin/env bash
# The official Python KurrentDB client (kurrentdbclient, from PyPI, installed
# by scripts/venv.sh) against the gRPC endpoint of `aftersales serve`, over a
# small demo history: tests/kurrentdb/client_scenario.py, then a check with
# the CLI that the events it appended are ordinary events of the log.
#
#   scripts/kurrentdb.sh [DB_URL]     a new SQLite file by default; a postgres:// URL names an empty database
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/aftersales-kurrentdb.XXXXXX)
db=${1:-sqlite://$work/grpc.db}
. scripts/service.sh
cleanup() {
    service_stop
    rm -rf "$work"
}
trap cleanup EXIT

venv_bin=$(scripts/venv.sh)
cargo build --locked -q -p aftersales-cli
bin=target/debug/aftersales
port=$(scripts/free-port.sh)
grpc_port=$(scripts/free-port.sh)
service_start "$bin" "$db" "$port" "$work/server.log" --demo-cases 5 --grpc-listen "127.0.0.1:$grpc_port"

result=$(timeout 300 "$venv_bin/python" tests/kurrentdb/client_scenario.py \
    "kurrentdb://127.0.0.1:$grpc_port?tls=false" | tail -n 1) || {
    echo "kurrentdb.sh: the client scenario failed; the server's log:" >&2
    tail -n 40 "$work/server.log" >&2
    exit 1
}
stream=$(echo "$result" | sed -n 's/^stream=\([^ ]*\) events=.*/\1/p')
expected=$(echo "$result" | sed -n 's/.* events=\([0-9]*\)$/\1/p')
found=$("$bin" --db "$db" events read "$stream" --json | wc -l)
if [ "$found" != "$expected" ]; then
    echo "kurrentdb.sh: the CLI reads $found events of $stream, the client appended $expected" >&2
    exit 1
fi
if grep -q "panicked" "$work/server.log"; then
    echo "kurrentdb.sh: the server logged a panic" >&2
    exit 1
fi
echo "kurrentdb.sh: the client scenario passed; the CLI reads the $found events of $stream"
