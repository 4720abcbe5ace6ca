#!/usr/bin/env bash
# Runs the whole test suite against real databases: SQLite files in temporary
# folders and a throw-away PostgreSQL cluster on 127.0.0.1, installed from
# Debian's packages if missing, started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=$(mktemp -d /tmp/aftersales-test-pg.XXXXXX)
port=$(scripts/free-port.sh)
cleanup() {
    scripts/pg.sh stop "$pg_dir" || true
    rm -rf "$pg_dir"
}
trap cleanup EXIT
scripts/pg.sh start "$pg_dir" "$port"
export AFTERSALES_TEST_PG
AFTERSALES_TEST_PG=$(scripts/pg.sh url "$port")

cargo test --workspace --locked "$@"
