"""The Python client over TLS: one append and one read against an endpoint
serving a certificate signed by the given CA.

    python tls_check.py kurrentdb://USER:PASSWORD@localhost:PORT?tls=true CA.pem

The client insists on credentials over TLS; the endpoint does not check them.
"""

import sys
import uuid

from kurrentdbclient import KurrentDBClient, NewEvent, StreamState


def main(uri, ca_file):
    client = KurrentDBClient(uri=uri, root_certificates=open(ca_file, "rb").read())
    stream = f"tls-{uuid.uuid4()}"
    client.append_to_stream(stream, events=NewEvent(type="Checked", data=b"{}"),
                            current_version=StreamState.NO_STREAM)
    events = client.get_stream(stream)
    if [e.type for e in events] != ["Checked"]:
        raise SystemExit(f"FAILED: read back {events!r}")
    client.close()
    print("tls ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
