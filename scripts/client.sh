#!/usr/bin/env bash
# The API as an integrator meets it: starts `aftersales serve` on a free
# loopback port, generates a Python client from the OpenAPI document the
# server publishes with openapi-python-client (from PyPI, installed by
# scripts/venv.sh), unedited, and runs scripts/client_scenario.py with it.
# Fails if the generator warns or the scenario does.
#
#   scripts/client.sh [DB_URL]
#
# DB_URL defaults to a new SQLite file; a postgres:// URL names an existing,
# empty database.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/aftersales-client.XXXXXX)
db=${1:-sqlite://$work/api.db}

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

agent=$("$bin" --db "$db" keys create --role agent --name agent-client | tail -n 1)
service_start "$bin" "$db" "$port" "$work/server.log"

curl -fsS "http://127.0.0.1:$port/v1/openapi.json" -o "$work/openapi.json"
# No formatter runs on the generated code: what is tested is what the
# generator wrote.
echo "post_hooks: []" > "$work/generator.yaml"
(cd "$work" && "$venv_bin/openapi-python-client" generate --path openapi.json \
    --config generator.yaml --meta none --output-path aftersales_client) >"$work/generate.log" 2>&1 || {
    cat "$work/generate.log" >&2
    exit 1
}
if grep -qi "warning" "$work/generate.log"; then
    echo "client.sh: the generator warned about the document:" >&2
    cat "$work/generate.log" >&2
    exit 1
fi

PYTHONPATH="$work" AFTERSALES_URL="http://127.0.0.1:$port" AFTERSALES_TOKEN="$agent" \
    "$venv_bin/python" scripts/client_scenario.py
