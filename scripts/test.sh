#!/usr/bin/env bash
# Runs the whole test suite against real databases: SQLite files in temporary
# folders and a throw-away PostgreSQL cluster on 127.0.0.1, installed from
# Debian's packages if missing, started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir=$(mktemp -d /tmp/aftersales-test-pg.XXXXXX)
port=$(scripts/free-port.sh)
log=$(mktemp /tmp/aftersales-test-log.XXXXXX)
cleanup() {
    scripts/pg.sh stop "$pg_dir" || true
    rm -rf "$pg_dir" "$log"
}
trap cleanup EXIT
scripts/pg.sh start "$pg_dir" "$port"
export AFTERSALES_TEST_PG
AFTERSALES_TEST_PG=$(scripts/pg.sh url "$port")

status=0
# What `make lint` runs (formatting, clippy with warnings as errors, the
# direction of dependencies between crates): CI enforces it too.
if [ $# -eq 0 ]; then
    if cargo fmt --all --check && cargo clippy --workspace --all-targets --locked -- -D warnings \
        && scripts/check-layers.sh; then
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (lint)" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (lint)" | tee -a "$log"
        status=1
    fi
fi

# Every test binary runs, whatever failed before it: one failure must not
# hide the others.
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee -a "$log" || status=$?

# The API against its own OpenAPI document, a client generated from that
# document, the official KurrentDB client against the gRPC endpoint, and
# webhooks verified by the standardwebhooks package, on both backends,
# unless the run was narrowed to some tests.
if [ $# -eq 0 ]; then
    api_db=schemathesis_$$
    client_db=client_$$
    grpc_db=kurrentdb_$$
    webhooks_db=webhooks_$$
    psql -q "$AFTERSALES_TEST_PG" -c "CREATE DATABASE $api_db" -c "CREATE DATABASE $client_db" \
        -c "CREATE DATABASE $grpc_db" -c "CREATE DATABASE $webhooks_db"
    # script:PostgreSQL database; each script also runs on a new SQLite file.
    for run in "schemathesis:$api_db" "client:$client_db" "kurrentdb:$grpc_db" \
        "webhooks:$webhooks_db"; do
        script=${run%%:*}
        for db in "" "${AFTERSALES_TEST_PG%/*}/${run#*:}"; do
            if "scripts/$script.sh" $db; then
                echo "test result: ok. 1 passed; 0 failed; 0 ignored ($script ${db:-sqlite})" | tee -a "$log"
            else
                echo "test result: FAILED. 0 passed; 1 failed; 0 ignored ($script ${db:-sqlite})" | tee -a "$log"
                status=1
            fi
        done
    done
fi

# The fuzz targets for a short while each: a regression that makes a
# decoder, a parser or a decision panic fails here.
if [ $# -eq 0 ]; then
    if scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-20}"; then
        echo "test result: ok. 1 passed; 0 failed; 0 ignored (fuzz)" | tee -a "$log"
    else
        echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (fuzz)" | tee -a "$log"
        status=1
    fi
fi

# One closing line for the whole run: cargo prints one per test binary, and
# the last of those (often a crate's doc tests) may well count none.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
exit "$status"
