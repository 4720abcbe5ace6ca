#!/usr/bin/env bash
# Dependencies point inward: the store knows no other crate of the
# workspace, the domain does no I/O (no sqlx, no tokio, no store), and the
# KurrentDB endpoint needs only the store.
set -euo pipefail
cd "$(dirname "$0")/.."

deps() {
    cargo tree --locked -p "$1" -e normal --prefix none | tail -n +2
}

fail=0
if deps aftersales-store | grep -q '^aftersales-'; then
    echo "check-layers: aftersales-store depends on another workspace crate" >&2
    fail=1
fi
if deps aftersales-domain | grep -qE '^(sqlx|tokio|aftersales-store|aftersales-commands) '; then
    echo "check-layers: aftersales-domain depends on I/O crates" >&2
    fail=1
fi
if deps aftersales-projections | grep -qE '^(aftersales-commands|aftersales-api|axum) '; then
    echo "check-layers: aftersales-projections depends on the command or HTTP layer" >&2
    fail=1
fi
if deps aftersales-grpc | grep -qE '^aftersales-(domain|commands|projections|api) '; then
    echo "check-layers: aftersales-grpc needs the store alone" >&2
    fail=1
fi
if deps aftersales-webhooks | grep -qE '^aftersales-(commands|projections|api) '; then
    echo "check-layers: aftersales-webhooks needs the domain and the store alone" >&2
    fail=1
fi
[ "$fail" = 0 ] && echo "check-layers: dependencies point inward"
exit "$fail"
