#!/usr/bin/env bash
# Webhooks against an outside implementation of the Standard Webhooks
# scheme: scripts/webhooks_scenario.py runs `aftersales serve` (killing and
# restarting it once) and a receiver on 127.0.0.1 that verifies every
# message with the `standardwebhooks` package from PyPI (installed by
# scripts/venv.sh).
#
#   scripts/webhooks.sh [DB_URL]
#
# DB_URL defaults to a new SQLite file; a postgres:// URL names an existing,
# empty database.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d /tmp/aftersales-webhooks.XXXXXX)
db=${1:-sqlite://$work/api.db}
trap 'rm -rf "$work"' EXIT

venv_bin=$(scripts/venv.sh)
cargo build --locked -q -p aftersales-cli
bin=target/debug/aftersales
port=$(scripts/free-port.sh)

admin=$("$bin" --db "$db" keys create --role admin --name admin-webhooks | tail -n 1)
agent=$("$bin" --db "$db" keys create --role agent --name agent-webhooks | tail -n 1)
"$venv_bin/python" scripts/webhooks_scenario.py "$bin" "$db" "$port" "$admin" "$agent" "$work/server.log" || {
    tail -n 40 "$work/server.log" >&2
    exit 1
}
