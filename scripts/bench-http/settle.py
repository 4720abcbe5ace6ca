"""Waits until the service's read models have caught up with its log, and
prints how long that took and how many events it applied meanwhile.

    python3 settle.py PORT TOKEN REGISTER_JSON

Registers one case and reads it back with `X-Min-Log-Position` set to the
position its registration answered, again on every 503, so that the next
workload of the benchmark starts with no backlog left by the one before.
Prints `events=<n> seconds=<s> eps=<n>`: the events the read models applied
from the first read to the last, the time that took and their rate.
"""

import http.client
import json
import sys
import time

port, token, body = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
connection = http.client.HTTPConnection("127.0.0.1", int(port))
connection.request("POST", "/v1/cases", body, headers)
response = connection.getresponse()
answer = response.read()
assert response.status == 201, answer
registered = json.loads(answer)
case, wanted = registered["id"], registered["position"]

start = time.monotonic()
connection.request("GET", "/v1/cases?limit=1", headers=headers)
response = connection.getresponse()
response.read()
assert response.status == 200, response.status
first = int(response.headers["X-Log-Position"])
deadline = start + 600
while True:
    connection.request("GET", f"/v1/cases/{case}", headers={**headers, "X-Min-Log-Position": str(wanted)})
    response = connection.getresponse()
    response.read()
    if response.status == 200:
        break
    assert response.status == 503, response.status
    assert time.monotonic() < deadline, "the read models did not catch up in 10 minutes"
seconds = time.monotonic() - start
events = wanted - first
print(f"events={events} seconds={seconds:.2f} eps={events / seconds if seconds > 0 else 0:.0f}")
