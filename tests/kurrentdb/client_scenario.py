"""The official Python client, kurrentdbclient, against aftersales' gRPC
endpoint: appends with each expected-revision kind, a conflict, an
idempotent retry, reads of a stream both ways and of $all with the client's
default filter, live and catch-up subscriptions, binary data, and an append
over the size limit.

    python client_scenario.py kurrentdb://USER:TOKEN@localhost:PORT?tls=true CA.pem

USER and TOKEN are an integration key's name and token, checked by the
endpoint as basic credentials over TLS (signed by the throw-away CA.pem).

Prints `stream=NAME events=N` on success (for the caller to check with the
CLI) and exits non-zero with the failed check otherwise.
"""

import base64
import json
import sys
import threading
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import (
    KurrentDBClientError,
    MaximumAppendSizeExceededError,
    NotFoundError,
    WrongCurrentVersionError,
)


def event(kind, **data):
    return NewEvent(
        type=kind,
        data=json.dumps(data).encode(),
        metadata=json.dumps({"source": "kurrentdbclient"}).encode(),
    )


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")


def main(uri, ca_file):
    ca = open(ca_file, "rb").read()
    client = KurrentDBClient(uri=uri, root_certificates=ca)
    stream = f"parcel-{uuid.uuid4()}"

    # Appends with each expected-revision kind; single events go through
    # Streams.Append, lists through Streams.BatchAppend.
    first = event("ParcelRegistered", tracking="SF100")
    position = client.append_to_stream(stream, events=first, current_version=StreamState.NO_STREAM)
    check(position > 0, "an append answers its commit position")
    batch = [event("ParcelChased", n=1), event("ParcelChased", n=2)]
    client.append_to_stream(stream, events=batch, current_version=0)
    client.append_to_stream(stream, events=[event("ParcelFound")], current_version=StreamState.ANY)
    client.append_to_stream(stream, events=event("ParcelSigned"), current_version=StreamState.EXISTS)

    # A stale expected revision is a conflict, through both calls.
    for events in (event("Late"), [event("Late"), event("Later")]):
        try:
            client.append_to_stream(stream, events=events, current_version=1)
        except WrongCurrentVersionError as error:
            check(error.actual_version == 4, f"the conflict names revision 4: {error!r}")
        else:
            check(False, "a stale expected revision is refused")
    try:
        client.append_to_stream(f"parcel-{uuid.uuid4()}", events=event("X"), current_version=StreamState.EXISTS)
    except WrongCurrentVersionError:
        pass
    else:
        check(False, "stream_exists on a new stream is refused")

    # A retry of the same events appends nothing twice.
    client.append_to_stream(stream, events=batch, current_version=0)
    recorded = client.get_stream(stream)
    check(len(recorded) == 5, f"a retried batch appends nothing: {len(recorded)} events")
    check([e.id for e in recorded[1:3]] == [e.id for e in batch], "event ids are kept")
    check(recorded[0].type == "ParcelRegistered", "types are kept")
    check(json.loads(recorded[0].data) == {"tracking": "SF100"}, "data is kept")
    check(json.loads(recorded[0].metadata) == {"source": "kurrentdbclient"}, "metadata is kept")
    check(recorded[0].content_type == "application/json", "the content type is kept")
    check([e.stream_position for e in recorded] == [0, 1, 2, 3, 4], "revisions count from 0")
    check(recorded[0].recorded_at is not None and recorded[0].recorded_at.year >= 2026, "a recorded time")

    # Backwards, with a limit; a missing stream is not found.
    backwards = client.get_stream(stream, backwards=True, limit=2)
    check([e.type for e in backwards] == ["ParcelSigned", "ParcelFound"], "reads go backwards")
    try:
        client.get_stream(f"parcel-{uuid.uuid4()}")
    except NotFoundError:
        pass
    else:
        check(False, "a missing stream is not found")

    # Binary data comes back byte for byte.
    blob = bytes(range(256))
    client.append_to_stream(
        stream,
        events=NewEvent(type="ParcelPhoto", data=blob, content_type="application/octet-stream"),
        current_version=4,
    )
    photo = client.get_stream(stream, stream_position=5)[0]
    check(photo.data == blob, "binary data round-trips")
    check(photo.content_type == "application/octet-stream", "a binary content type round-trips")

    # $all with the client's default filter (system events excluded) holds
    # the events of the domain and ours, in order.
    everything = list(client.read_all())
    types = {e.type for e in everything}
    check("CaseRegistered" in types, f"$all holds the domain's events: {sorted(types)[:10]}")
    ours = [e for e in everything if e.stream_name == stream]
    check(len(ours) == 6, f"$all holds this stream's events: {len(ours)}")
    positions = [e.commit_position for e in everything]
    check(positions == sorted(positions), "$all is in one global order")
    case = next(e for e in everything if e.type == "CaseRegistered")
    check("case_id" in json.loads(case.data), "the domain's events are JSON")

    # A catch-up subscription from a checkpoint starts after it.
    subscription = client.subscribe_to_all(commit_position=position)
    caught = next(iter(subscription))
    check(caught.commit_position > position, "a catch-up subscription starts after its checkpoint")
    subscription.stop()

    # A live subscription receives an event appended after it started.
    head = client.get_commit_position()
    live = client.subscribe_to_all(commit_position=head)
    received = []

    def listen():
        for recorded_event in live:
            if recorded_event.stream_name == stream:
                received.append(recorded_event)
                break

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    client.append_to_stream(stream, events=event("ParcelDelivered"), current_version=5)
    listener.join(timeout=15)
    live.stop()
    check(received and received[0].type == "ParcelDelivered", "a live subscription receives new events")

    # A stream subscription catches up, then goes live.
    stream_subscription = client.subscribe_to_stream(stream, stream_position=5)
    next_event = next(iter(stream_subscription))
    check(next_event.type == "ParcelDelivered", f"a stream subscription starts after its revision: {next_event.type}")
    stream_subscription.stop()

    # An append over the size limit is refused with the protocol's error.
    try:
        client.append_to_stream(stream, events=NewEvent(type="Huge", data=b"0" * (2 * 1024 * 1024)), current_version=6)
    except (MaximumAppendSizeExceededError, KurrentDBClientError) as error:
        check("Maximum Append Size" in str(error) or isinstance(error, MaximumAppendSizeExceededError),
              f"the size error is named: {error!r}")
    else:
        check(False, "an oversized append is refused")
    check(len(client.get_stream(stream)) == 7, "a refused append appends nothing")

    bad_input(uri, ca)
    check(len(client.get_stream(stream)) == 7, "the server serves after bad input")
    client.close()
    print(f"stream={stream} events=7")


def bad_input(uri, ca):
    """Malformed and meaningless requests, from a caller with valid
    credentials, get a clear gRPC status."""
    import grpc
    from kurrentdbclient.protos.v1 import shared_pb2, streams_pb2

    credentials, target = uri.split("://", 1)[1].split("?", 1)[0].split("@", 1)
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca))
    metadata = (("authorization", "Basic " + base64.b64encode(credentials.encode()).decode()),)

    def refused(call, request, codes, what):
        try:
            response = call(request, timeout=10, metadata=metadata)
            if hasattr(response, "__iter__") and not isinstance(response, bytes):
                list(response)
        except grpc.RpcError as error:
            check(error.code() in codes, f"{what}: {error.code()} {error.details()}")
        else:
            check(False, f"{what} is refused")

    read_raw = channel.unary_stream(
        "/event_store.client.streams.Streams/Read",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    invalid = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.INTERNAL)
    refused(read_raw, b"\xff\xff\xff\xff", invalid, "malformed protobuf")
    read = channel.unary_stream(
        "/event_store.client.streams.Streams/Read",
        request_serializer=streams_pb2.ReadReq.SerializeToString,
        response_deserializer=streams_pb2.ReadResp.FromString,
    )
    no_target = streams_pb2.ReadReq(options=streams_pb2.ReadReq.Options(count=1))
    refused(read, no_target, (grpc.StatusCode.INVALID_ARGUMENT,), "a read naming no stream")
    bad_regex = streams_pb2.ReadReq(options=streams_pb2.ReadReq.Options(
        all=streams_pb2.ReadReq.Options.AllOptions(start=shared_pb2.Empty()),
        count=1,
        filter=streams_pb2.ReadReq.Options.FilterOptions(
            event_type=streams_pb2.ReadReq.Options.FilterOptions.Expression(regex="(unclosed"),
            max=32,
        ),
    ))
    refused(read, bad_regex, (grpc.StatusCode.INVALID_ARGUMENT,), "a filter that does not compile")
    append = channel.stream_unary(
        "/event_store.client.streams.Streams/Append",
        request_serializer=streams_pb2.AppendReq.SerializeToString,
        response_deserializer=streams_pb2.AppendResp.FromString,
    )
    proposed = streams_pb2.AppendReq(proposed_message=streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string=str(uuid.uuid4())), metadata={"type": "X"}, data=b"{}"))
    refused(append, iter([proposed]), (grpc.StatusCode.INVALID_ARGUMENT,), "an append without options")
    system = streams_pb2.AppendReq(options=streams_pb2.AppendReq.Options(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"$all"), any=shared_pb2.Empty()))
    refused(append, iter([system, proposed]), (grpc.StatusCode.INVALID_ARGUMENT,), "an append to $all")
    untyped = streams_pb2.AppendReq(proposed_message=streams_pb2.AppendReq.ProposedMessage(
        id=shared_pb2.UUID(string=str(uuid.uuid4())), data=b"{}"))
    options = streams_pb2.AppendReq(options=streams_pb2.AppendReq.Options(
        stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"parcel-bad"), any=shared_pb2.Empty()))
    refused(append, iter([options, untyped]), (grpc.StatusCode.INVALID_ARGUMENT,), "an event without a type")

    # A call may not hold more than 64 unfinished batches open.
    batch_append = channel.stream_stream(
        "/event_store.client.streams.Streams/BatchAppend",
        request_serializer=streams_pb2.BatchAppendReq.SerializeToString,
        response_deserializer=streams_pb2.BatchAppendResp.FromString,
    )
    unfinished = (
        streams_pb2.BatchAppendReq(
            correlation_id=shared_pb2.UUID(string=str(uuid.uuid4())),
            options=streams_pb2.BatchAppendReq.Options(
                stream_identifier=shared_pb2.StreamIdentifier(stream_name=b"parcel-open"),
            ),
            is_final=False,
        )
        for _ in range(65)
    )
    refused(batch_append, unfinished, (grpc.StatusCode.RESOURCE_EXHAUSTED,), "65 open batches")

    # ServerFeatures answers the methods served (the Node.js client asks on
    # connect); the message is read as bytes, having no Python binding here.
    features = channel.unary_unary(
        "/event_store.client.server_features.ServerFeatures/GetSupportedMethods",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )(b"", timeout=10)
    for method in (b"read", b"append", b"batchappend", b"event_store.client.streams.streams"):
        check(method in features, f"ServerFeatures names {method!r}")
    channel.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
