#!/usr/bin/env bash
# The official Python KurrentDB client (kurrentdbclient, from PyPI, installed
# by scripts/venv.sh) against the gRPC endpoint of `aftersales serve`, over a
# small demo history: tests/kurrentdb/client_scenario.py, then a check with
# the CLI that the events it appended are ordinary events of the log, then
# one append and read over TLS with a throw-away certificate.
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
service_stop

# The same endpoint with TLS: a throw-away CA signs a certificate for
# localhost, and the client trusts that CA alone.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=aftersales test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null
service_start "$bin" "$db" "$port" "$work/server-tls.log" --grpc-listen "127.0.0.1:$grpc_port" \
    --grpc-tls-cert "$work/server.pem" --grpc-tls-key "$work/server.key"
timeout 120 "$venv_bin/python" tests/kurrentdb/tls_check.py \
    "kurrentdb://admin:changeit@localhost:$grpc_port?tls=true" "$work/ca.pem" || {
    echo "kurrentdb.sh: the TLS check failed; the server's log:" >&2
    tail -n 20 "$work/server-tls.log" >&2
    exit 1
}
echo "kurrentdb.sh: the client scenario passed, over plain text and TLS; the CLI reads the $found events of $stream"
