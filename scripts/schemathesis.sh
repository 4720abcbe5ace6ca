#!/usr/bin/env bash
# Property-based API testing: starts `aftersales serve` on a free loopback
# port over a small demo history and runs schemathesis (from PyPI, installed
# by scripts/venv.sh) against the OpenAPI document the server publishes.
# Fails on any 5xx, on any answer that does not match the document, and if
# no case could be registered from the document's schemas.
#
#   scripts/schemathesis.sh [DB_URL] [-- extra schemathesis arguments]
#
# DB_URL defaults to a new SQLite file; a postgres:// URL names an existing,
# empty database. SCHEMATHESIS_EXAMPLES bounds the examples per operation
# (default 10), SCHEMATHESIS_PHASES the phases (default: all of them).
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/aftersales-schemathesis.XXXXXX)
db=${1:-sqlite://$work/api.db}
shift || true
[ "${1:-}" = "--" ] && shift

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

token=$("$bin" --db "$db" keys create --role admin --name schemathesis | tail -n 1)
# The rate limit is lifted: schemathesis sends as fast as it can, and 429s
# would hide the answers under test (the limit has its own test).
service_start "$bin" "$db" "$port" "$work/server.log" --demo-cases 20 --rate-limit 100000

status=0
"$venv_bin/schemathesis" run "http://127.0.0.1:$port/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --phases "${SCHEMATHESIS_PHASES:-examples,coverage,fuzzing,stateful}" \
    --max-examples "${SCHEMATHESIS_EXAMPLES:-10}" \
    --seed 2026 \
    --no-color \
    "$@" || status=$?

# A run that only ever saw its requests refused has tested the refusals
# alone: cases must have been registered through the document's schemas.
if ! grep -Eq 'method=POST route="?/v1/cases"? status=201' "$work/server.log"; then
    echo "schemathesis.sh: no case was registered: the document's RegisterCase schema is not one the server accepts" >&2
    status=1
fi

if grep -q "panicked" "$work/server.log"; then
    echo "schemathesis.sh: the server logged a panic:" >&2
    grep -A5 "panicked" "$work/server.log" >&2
    status=1
fi
exit "$status"
