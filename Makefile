# The index of what a person (or CI) runs here; the logic lives in scripts/
# and in Rust.

DB ?= sqlite://data/aftersales.db
LISTEN ?= 127.0.0.1:8080

.PHONY: run test bench bench-http bench-grpc bench-peer crash-long reliability fuzz soak schemathesis-long lint fmt

## Build and start the service on the embedded SQLite store (./data/) with
## the example configuration and the SOPs' policy; a new store is first
## filled with a small demo history.
run:
	cargo run --release --locked -p aftersales-cli -- --config config/aftersales.toml --db $(DB) serve --listen $(LISTEN) --demo-cases 300

## The whole test suite, on SQLite and on a throw-away PostgreSQL cluster.
test:
	scripts/test.sh

## Benchmarks on both backends; figures go to docs/benchmarks.md by hand.
bench:
	scripts/bench.sh

## The HTTP load benchmark (wrk and oha) on SQLite and on PostgreSQL.
bench-http:
	scripts/bench.sh --http

## The command benchmark beside the same workload through cqrs-es (also part of `make bench`).
bench-peer:
	scripts/bench.sh --peer

## The KurrentDB gRPC endpoint with the Python client, beside the store itself.
bench-grpc:
	scripts/bench.sh --grpc

## The crash tests with many kill cycles (100 on SQLite, 20 on PostgreSQL).
crash-long:
	CRASH_SQLITE_CYCLES=100 CRASH_PG_CYCLES=20 scripts/test.sh -p aftersales-tests --test crash -- --nocapture

## Reliability under faults, the long runs behind docs/reliability.md: 100
## service kills on SQLite, 20 database kills on PostgreSQL, 3 rounds of
## database outages, 30 s of hostile clients (1,100 idle connections, 300
## replaying streams, 40 past reports), besides the full disks, limits and backup.
## The service is built as `make run` builds it (release): its figures are
## the ones production sees.
reliability:
	RELIABILITY_KILL_CYCLES=100 RELIABILITY_PG_KILL_CYCLES=20 RELIABILITY_OUTAGE_ROUNDS=3 \
	RELIABILITY_IDLE_CONNECTIONS=1100 RELIABILITY_STREAMS=300 RELIABILITY_REPLAYS=40 \
	RELIABILITY_HOSTILE_SECONDS=30 \
		scripts/test.sh --release -p aftersales-cli --test reliability -- --nocapture

## Each fuzz target for 10 million executions.
fuzz:
	scripts/fuzz.sh --runs 10000000

## Commands at a fixed rate for 60 s, then a 10-minute soak watching memory.
soak:
	scripts/soak.sh

## Schemathesis in all its phases with 100 examples per operation, on SQLite.
schemathesis-long:
	SCHEMATHESIS_EXAMPLES=100 scripts/schemathesis.sh

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/check-layers.sh

fmt:
	cargo fmt --all
