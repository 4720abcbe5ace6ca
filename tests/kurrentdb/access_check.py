"""Who may call aftersales' gRPC endpoint, checked from the outside: calls
without credentials, with a wrong user, with a revoked key and with keys of
roles that may only read or nothing are refused with the protocol's statuses,
and no key appends into the categories the product owns, through Append or
BatchAppend, with the log left as it was.

    python access_check.py HOST:PORT CA.pem AFTERSALES_BIN DB_URL

The keys are issued here with the CLI, on the same database as the service.
Prints `access ok` on success and exits non-zero with the failed check
otherwise.
"""

import base64
import json
import subprocess
import sys
import time
import uuid

import grpc
from kurrentdbclient import KurrentDBClient, NewEvent, StreamState
from kurrentdbclient.exceptions import AccessDeniedError
from kurrentdbclient.protos.v1 import shared_pb2, streams_pb2

# Every category the product owns: written only through its commands.
OWNED = ["case", "unpaid", "audit", "repair", "grant", "pdview", "readmodel"]


def check(condition, what):
    if not condition:
        raise SystemExit(f"FAILED: {what}")


class Endpoint:
    def __init__(self, target, ca):
        self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=ca))
        self.read_call = self.channel.unary_stream(
            "/event_store.client.streams.Streams/Read",
            request_serializer=streams_pb2.ReadReq.SerializeToString,
            response_deserializer=streams_pb2.ReadResp.FromString,
        )
        self.append_call = self.channel.stream_unary(
            "/event_store.client.streams.Streams/Append",
            request_serializer=streams_pb2.AppendReq.SerializeToString,
            response_deserializer=streams_pb2.AppendResp.FromString,
        )

    def read_all(self, credentials, count=1):
        request = streams_pb2.ReadReq(options=streams_pb2.ReadReq.Options(
            all=streams_pb2.ReadReq.Options.AllOptions(start=shared_pb2.Empty()),
            count=count,
            no_filter=shared_pb2.Empty(),
            uuid_option=streams_pb2.ReadReq.Options.UUIDOption(string=shared_pb2.Empty()),
        ))
        return list(self.read_call(request, timeout=10, metadata=authorization(credentials)))

    def subscribe_all(self, credentials):
        request = streams_pb2.ReadReq(options=streams_pb2.ReadReq.Options(
            all=streams_pb2.ReadReq.Options.AllOptions(start=shared_pb2.Empty()),
            subscription=streams_pb2.ReadReq.Options.SubscriptionOptions(),
            no_filter=shared_pb2.Empty(),
            uuid_option=streams_pb2.ReadReq.Options.UUIDOption(string=shared_pb2.Empty()),
        ))
        return self.read_call(request, timeout=60, metadata=authorization(credentials))

    def append(self, credentials, stream):
        options = streams_pb2.AppendReq(options=streams_pb2.AppendReq.Options(
            stream_identifier=shared_pb2.StreamIdentifier(stream_name=stream.encode()),
            any=shared_pb2.Empty(),
        ))
        proposed = streams_pb2.AppendReq(proposed_message=streams_pb2.AppendReq.ProposedMessage(
            id=shared_pb2.UUID(string=str(uuid.uuid4())),
            metadata={"type": "CaseRegistered", "content-type": "application/json"},
            data=json.dumps({"customer": "张三"}).encode(),
        ))
        return self.append_call(iter([options, proposed]), timeout=10, metadata=authorization(credentials))


def authorization(credentials):
    if credentials is None:
        return ()
    token = base64.b64encode(credentials.encode()).decode()
    return (("authorization", f"Basic {token}"),)


def refused(call, code, what):
    try:
        call()
    except grpc.RpcError as error:
        check(error.code() == code, f"{what}: expected {code}, got {error.code()} {error.details()}")
        return error.details()
    check(False, f"{what} is refused")


def issue_key(bin_path, db, role, name):
    done = subprocess.run(
        [bin_path, "--db", db, "keys", "create", "--role", role, "--name", name],
        check=True, capture_output=True, text=True,
    )
    key_id = done.stderr.split("issued key ", 1)[1].split(" ", 1)[0]
    return key_id, f"{name}:{done.stdout.strip().splitlines()[-1]}"


def main(target, ca_file, bin_path, db):
    ca = open(ca_file, "rb").read()
    endpoint = Endpoint(target, ca)
    _, integration = issue_key(bin_path, db, "integration", "grpc-integration")
    _, auditor = issue_key(bin_path, db, "auditor", "grpc-auditor")
    _, agent = issue_key(bin_path, db, "agent", "grpc-agent")
    revoked_id, revoked = issue_key(bin_path, db, "integration", "grpc-revoked")
    check(len(endpoint.read_all(integration)) > 0, "an integration key reads $all")

    # No credentials, a wrong user, a made-up token.
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    refused(lambda: endpoint.read_all(None), unauthenticated, "a read without credentials")
    refused(lambda: endpoint.append(None, f"parcel-{uuid.uuid4()}"), unauthenticated, "an append without credentials")
    token = integration.split(":", 1)[1]
    refused(lambda: endpoint.read_all(f"someone-else:{token}"), unauthenticated, "a token under another user")
    refused(lambda: endpoint.read_all("grpc-integration:as_made_up"), unauthenticated, "a made-up token")

    # Roles: auditors read only; agents not at all.
    denied = grpc.StatusCode.PERMISSION_DENIED
    check(len(endpoint.read_all(auditor)) > 0, "an auditor key reads $all")
    refused(lambda: endpoint.append(auditor, f"parcel-{uuid.uuid4()}"), denied, "an auditor's append")
    refused(lambda: endpoint.read_all(agent), denied, "an agent's read of the raw log")

    # A revoked key stops working within the key cache's 5 s, and a
    # subscription it opened before ends within twice that.
    check(len(endpoint.read_all(revoked)) > 0, "a key reads before it is revoked")
    subscription = endpoint.subscribe_all(revoked)
    next(subscription)  # confirmed
    subprocess.run([bin_path, "--db", db, "keys", "revoke", revoked_id], check=True, capture_output=True)
    revoked_at = time.monotonic()
    time.sleep(6)
    refused(lambda: endpoint.read_all(revoked), unauthenticated, "a revoked key")
    refused(lambda: [None for _ in subscription], unauthenticated, "a revoked key's open subscription")
    ended_after = time.monotonic() - revoked_at
    check(ended_after < 20, f"the subscription ended {ended_after:.1f} s after the revocation")

    # The product's own categories, through Append and (with the official
    # client) BatchAppend: refused, and the log does not move.
    host, port = target.rsplit(":", 1)
    client = KurrentDBClient(
        uri=f"kurrentdb://{integration}@{host}:{port}?tls=true", root_certificates=ca)
    head = client.get_commit_position()
    for category in OWNED:
        stream = f"{category}-{uuid.uuid4()}"
        details = refused(lambda: endpoint.append(integration, stream), denied, f"an append into {stream}")
        check("JSON API" in details, f"the refusal says to use the JSON API: {details}")
        try:
            client.append_to_stream(stream, current_version=StreamState.ANY, events=[
                NewEvent(type="CaseRegistered", data=b'{"customer":"x"}'),
                NewEvent(type="CallLogged", data=b"{}"),
            ])
        except AccessDeniedError:
            pass
        else:
            check(False, f"a batch append into {stream} is refused")
    check(client.get_commit_position() == head, "refused appends append nothing")
    # Other categories stay free for integrations.
    client.append_to_stream(f"parcel-{uuid.uuid4()}", current_version=StreamState.NO_STREAM,
                            events=NewEvent(type="ParcelScanned", data=b"{}"))
    check(client.get_commit_position() > head, "an integration appends outside the owned categories")
    client.close()
    endpoint.channel.close()
    print("access ok")


if __name__ == "__main__":
    main(*sys.argv[1:5])
