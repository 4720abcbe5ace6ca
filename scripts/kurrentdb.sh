#!/usr/bin/env bash
# The official Python KurrentDB client (kurrentdbclient, from PyPI, installed
# by scripts/venv.sh) against the gRPC endpoint of `aftersales serve`, over a
# small demo history, with TLS (a throw-away CA) and an API key's
# credentials: tests/kurrentdb/client_scenario.py, then a check with the CLI
# that the events it appended are ordinary events of the log, then
# tests/kurrentdb/access_check.py (missing, wrong, revoked and read-only
# credentials, appends into the product's own categories), then the
# endpoint's refusal to serve without TLS unless told it is a loopback rig.
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

# A throw-away CA signs a certificate for localhost; the clients trust that
# CA alone.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=aftersales test CA" \
    -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$work/server.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$work/san.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/san.ext" -out "$work/server.pem" 2>/dev/null

fail() {
    echo "kurrentdb.sh: $1; the server's log:" >&2
    tail -n 40 "$work/server.log" >&2
    exit 1
}

service_start "$bin" "$db" "$port" "$work/server.log" --demo-cases 5 --grpc-listen "127.0.0.1:$grpc_port" \
    --grpc-tls-cert "$work/server.pem" --grpc-tls-key "$work/server.key"
token=$("$bin" --db "$db" keys create --role integration --name kurrentdb-client 2>/dev/null | tail -n 1)

result=$(timeout 300 "$venv_bin/python" tests/kurrentdb/client_scenario.py \
    "kurrentdb://kurrentdb-client:$token@localhost:$grpc_port?tls=true" "$work/ca.pem" | tail -n 1) \
    || fail "the client scenario failed"
stream=$(echo "$result" | sed -n 's/^stream=\([^ ]*\) events=.*/\1/p')
expected=$(echo "$result" | sed -n 's/.* events=\([0-9]*\)$/\1/p')
found=$("$bin" --db "$db" events read "$stream" --json | wc -l)
if [ "$found" != "$expected" ]; then
    echo "kurrentdb.sh: the CLI reads $found events of $stream, the client appended $expected" >&2
    exit 1
fi

timeout 300 "$venv_bin/python" tests/kurrentdb/access_check.py \
    "localhost:$grpc_port" "$work/ca.pem" "$bin" "$db" || fail "the access check failed"
if grep -q "panicked" "$work/server.log"; then
    echo "kurrentdb.sh: the server logged a panic" >&2
    exit 1
fi
service_stop

# Without TLS the endpoint does not start, unless told that it is a test rig
# on a loopback address; and then only there.
refuses() {
    local what=$1
    shift
    if timeout 60 "$bin" --db "$db" serve --listen "127.0.0.1:$port" "$@" >"$work/refused.log" 2>&1; then
        echo "kurrentdb.sh: serve started $what" >&2
        exit 1
    fi
    grep -q "grpc" "$work/refused.log" || {
        echo "kurrentdb.sh: serve refused $what without naming the gRPC setting:" >&2
        cat "$work/refused.log" >&2
        exit 1
    }
}
refuses "a gRPC endpoint without TLS" --grpc-listen "127.0.0.1:$grpc_port"
refuses "an insecure gRPC endpoint on every address" --grpc-listen "0.0.0.0:$grpc_port" --grpc-insecure
echo "kurrentdb.sh: the client scenario and the access checks passed over TLS; the CLI reads the $found events of $stream"
