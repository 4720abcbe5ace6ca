#!/usr/bin/env bash
# Coverage-guided fuzzing of the event decoders, the command JSON parsers
# and the domain's decisions (fuzz/, with cargo-fuzz and libFuzzer, on the
# stable toolchain without a sanitizer). cargo-fuzz is installed from
# crates.io into target/tools; the corpus grows in target/fuzz-corpus,
# seeded from fuzz/seeds.
#
#   scripts/fuzz.sh --seconds N     each target for N seconds (make test)
#   scripts/fuzz.sh --runs N        each target for N executions (make fuzz)
#
# Fails on any crash, panic, timeout or out-of-memory. Prints one
# `FUZZ target=… runs=… seconds=…` line per target.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
    --seconds) limit=(-max_total_time="$2") ;;
    --runs) limit=(-runs="$2") ;;
    *) echo "usage: $0 --seconds N | --runs N" >&2; exit 2 ;;
esac

fuzz=target/tools/bin/cargo-fuzz
if [ ! -x "$fuzz" ]; then
    cargo install --locked --quiet --root target/tools cargo-fuzz@0.13.2
fi

targets=(event_decode command_json decide)
"$fuzz" build --sanitizer none --release

status=0
for target in "${targets[@]}"; do
    corpus=target/fuzz-corpus/$target
    mkdir -p "$corpus"
    log=$(mktemp /tmp/aftersales-fuzz.XXXXXX)
    if "$fuzz" run --sanitizer none --release "$target" "$corpus" "fuzz/seeds/$target" -- \
        "${limit[@]}" -rss_limit_mb=2048 -timeout=10 -max_len=16384 -print_final_stats=1 \
        >"$log" 2>&1; then
        outcome=ok
    else
        outcome=FAILED
        status=1
        tail -n 40 "$log" >&2
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    seconds=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    echo "FUZZ target=$target runs=${runs:-0} seconds=${seconds:-?} result=$outcome"
    rm -f "$log"
done
exit "$status"
