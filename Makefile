# The index of what a person (or CI) runs here; the logic lives in scripts/
# and in Rust.

DB ?= sqlite://data/aftersales.db
LISTEN ?= 127.0.0.1:8080

.PHONY: run test bench bench-http bench-grpc crash-long lint fmt

## Build and start the service on the embedded SQLite store (./data/); a new
## store is first filled with a small demo history.
run:
	cargo run --release --locked -p aftersales-cli -- --db $(DB) serve --listen $(LISTEN) --demo-cases 300

## The whole test suite, on SQLite and on a throw-away PostgreSQL cluster.
test:
	scripts/test.sh

## Benchmarks on both backends; figures go to docs/benchmarks.md by hand.
bench:
	scripts/bench.sh

## The HTTP load benchmark (wrk and oha) on SQLite and on PostgreSQL.
bench-http:
	scripts/bench.sh --http

## The KurrentDB gRPC endpoint with the Python client, beside the store itself.
bench-grpc:
	scripts/bench.sh --grpc

## The crash tests with many kill cycles (100 on SQLite, 20 on PostgreSQL).
crash-long:
	CRASH_SQLITE_CYCLES=100 CRASH_PG_CYCLES=20 scripts/test.sh -p aftersales-tests --test crash -- --nocapture

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	scripts/check-layers.sh

fmt:
	cargo fmt --all
