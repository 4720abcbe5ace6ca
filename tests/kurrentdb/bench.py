"""Appends and reads through the gRPC endpoint with the official Python
client: EVENTS events in batches of BATCH (Streams.BatchAppend, one new
stream per batch), then `$all` read back forwards without a filter.

    python bench.py kurrentdb://127.0.0.1:PORT?tls=false EVENTS BATCH

Prints `append_eps=<n> read_eps=<n>`.
"""

import json
import sys
import time
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState


def main(uri, events, batch):
    client = KurrentDBClient(uri=uri)
    data = json.dumps({"customer": "李娜", "phone": "13912345678", "problem": "收到货时机身有裂痕",
                       "order": {"no": "TB2026030200001", "paid_minor": 29900}}).encode()
    start_position = client.get_commit_position(filter_exclude=())
    started = time.perf_counter()
    for _ in range(events // batch):
        client.append_to_stream(
            f"bench-{uuid.uuid4()}",
            events=[NewEvent(type="CaseRegistered", data=data) for _ in range(batch)],
            current_version=StreamState.NO_STREAM,
        )
    append_seconds = time.perf_counter() - started

    started = time.perf_counter()
    read = 0
    for _ in client.read_all(commit_position=start_position + 1, filter_exclude=()):
        read += 1
    read_seconds = time.perf_counter() - started
    if read < events:
        raise SystemExit(f"read {read} events, appended {events}")
    client.close()
    print(f"append_eps={events / append_seconds:.0f} read_eps={read / read_seconds:.0f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
