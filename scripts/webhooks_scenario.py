"""Webhooks as a subscriber meets them (scripts/webhooks.sh): a receiver on
127.0.0.1 verifies every message with the `standardwebhooks` package from
PyPI, an implementation of the scheme that is not this project's, and
records what it got. The scenario runs `aftersales serve` itself, so that
it can kill it with SIGKILL in the middle of a burst and start it again.

Checked: every matching event arrives, in the log's order, validly signed,
and nothing else; a receiver that answers 500, then times out, then
recovers gets everything, each retry under the first attempt's
webhook-id; after a SIGKILL and a restart no event is missing and a
message sent twice carries the same webhook-id; during a secret rotation
each secret alone verifies every message."""

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN, DB, PORT, ADMIN, AGENT, LOG = sys.argv[1:7]
BASE = f"http://127.0.0.1:{PORT}"


def fail(what):
    print(f"webhooks scenario: {what}", file=sys.stderr)
    sys.exit(1)


def check(condition, what):
    if not condition:
        fail(what)


class Receiver(http.server.ThreadingHTTPServer):
    """Records each message that every secret it knows verifies."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.mode = "accept"
        self.secrets = []
        self.attempts = []  # (webhook-id, position)
        self.accepted = []  # (webhook-id, position, type)
        self.unverified = []
        self.delay = 0.0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with server.lock:
            secrets, mode, delay = list(server.secrets), server.mode, server.delay
        payload = None
        for secret in secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError as error:
                with server.lock:
                    server.unverified.append((headers.get("webhook-id"), str(error)))
                payload = None
                break
        message_id = headers.get("webhook-id")
        position = payload["data"]["position"] if payload else None
        with server.lock:
            server.attempts.append((message_id, position))
        if mode == "fail":
            self.send_response(500)
            self.end_headers()
            return
        if mode == "hang":
            time.sleep(2.5)
        if delay:
            time.sleep(delay)
        if payload is not None and mode != "hang":
            with server.lock:
                server.accepted.append((message_id, position, payload["type"]))
        self.send_response(204)
        self.end_headers()


def call(method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method)
    request.add_header("authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
            return answer.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def registration(n):
    return {
        "customer": {"name": "王小明", "phone": f"1380013{n % 10000:04d}", "buyer_id": f"tb_wang{n}"},
        "order": {
            "order_no": f"TB20260301{n:06d}",
            "paid": {"minor": 20000, "currency": "CNY"},
            "paid_at": "2026-02-27T02:00:00Z",
            "platform_state": "seller_shipped",
        },
        "product": {"name": "智能电饭煲", "model": "IH-40B"},
        "problem": {"phenomenon": "快递显示已签收，客户未收到"},
        "channel": "phone",
        "category": "logistics",
        "priority": "P2",
    }


registered = 0


def register(count):
    global registered
    for _ in range(count):
        status, answer = call("POST", "/v1/cases", AGENT, registration(registered))
        registered += 1
        check(status == 201, f"a registration was refused: {status} {answer}")


def case_positions(after):
    """The positions of the log's case events after `after`, from the feed."""
    positions = []
    while True:
        status, page = call("GET", f"/v1/events?after={after}&category=case&limit=1000", ADMIN)
        check(status == 200, f"the feed answered {status}: {page}")
        positions += [event["position"] for event in page["events"]]
        if not page["events"]:
            return positions
        after = page["events"][-1]["position"]


def wait_until(condition, what, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.05)
    fail(f"timed out waiting until {what}")


def head():
    status, ready = call("GET", "/readyz", ADMIN)
    check(status == 200, f"/readyz answered {status}")
    return ready["head_position"]


class Service:
    def __init__(self):
        self.process = None

    def start(self):
        env = dict(os.environ,
                   AFTERSALES_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                   AFTERSALES_WEBHOOKS_TIMEOUT="1",
                   AFTERSALES_WEBHOOKS_FIRST_BACKOFF_MS="100",
                   AFTERSALES_WEBHOOKS_MAX_BACKOFF="1")
        log = open(LOG, "ab")
        self.process = subprocess.Popen(
            [BIN, "--db", DB, "serve", "--listen", f"127.0.0.1:{PORT}"],
            stdout=log, stderr=log, env=env)
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{BASE}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            check(self.process.poll() is None, f"the service stopped; see {LOG}")
            time.sleep(0.25)
        fail("the service did not become ready")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait()


receiver = Receiver()
threading.Thread(target=receiver.serve_forever, daemon=True).start()
service = Service()
service.start()
try:
    # Every matching event, in order, signed; nothing else.
    start = head()
    status, created = call("POST", "/v1/webhooks", ADMIN,
                           {"url": receiver.url, "filter": {"categories": ["case"]}})
    check(status == 201, f"the subscription was refused: {status} {created}")
    webhook = created["webhook"]["id"]
    receiver.secrets = [created["secret"]]
    register(5)
    expected = case_positions(start)
    check(len(expected) >= 5, f"the log holds {expected}")
    wait_until(lambda: len(receiver.accepted) >= len(expected), "every case event arrived")
    time.sleep(0.5)
    got = [position for _, position, _ in receiver.accepted]
    check(got == expected, f"arrived {got}, the log holds {expected}")
    check(not receiver.unverified, f"unverified messages: {receiver.unverified}")

    # 500, then a timeout, then recovery: everything, under one id per event.
    receiver.mode = "fail"
    before = len(receiver.accepted)
    start = expected[-1]
    register(3)
    wait_until(lambda: len(receiver.attempts) >= len(expected) + 3, "three failed attempts")
    receiver.mode = "hang"
    tried = len(receiver.attempts)
    wait_until(lambda: len(receiver.attempts) >= tried + 2, "two attempts timed out")
    receiver.mode = "accept"
    expected_now = case_positions(start)
    wait_until(lambda: len(receiver.accepted) >= before + len(expected_now), "the retried events arrived")
    arrived = receiver.accepted[before:]
    check([p for _, p, _ in arrived] == expected_now, f"after recovery {arrived} not {expected_now}")
    ids = {position: message_id for message_id, position, _ in arrived}
    retried = [(i, p) for i, p in receiver.attempts if p in ids]
    check(all(ids[p] == i for i, p in retried), "a retry carried another webhook-id")
    check(sum(1 for _, p in retried if p == expected_now[0]) >= 5, "the first event was not retried")

    # Rotation: both secrets sign; each alone verifies.
    status, added = call("POST", f"/v1/webhooks/{webhook}/secrets", ADMIN, {})
    check(status == 201, f"the second secret was refused: {status} {added}")
    time.sleep(1.5)
    old, new = receiver.secrets[0], added["secret"]
    for secrets in ([old], [new]):
        receiver.secrets = secrets
        count = len(receiver.accepted)
        register(1)
        wait_until(lambda: len(receiver.accepted) > count, "a message signed with both secrets")
    check(not receiver.unverified, f"unverified during the rotation: {receiver.unverified}")
    receiver.secrets = [new]

    # A SIGKILL in the middle of a burst: nothing missing, duplicates keep their id.
    start = head()
    receiver.delay = 0.01
    count = len(receiver.accepted)
    register(150)
    wait_until(lambda: len(receiver.accepted) > count + 20, "the burst began to arrive")
    service.kill()
    service.start()
    receiver.delay = 0.0
    expected = case_positions(start)
    wait_until(lambda: set(expected) <= {p for _, p, _ in receiver.accepted[count:]},
               "every event of the burst arrived after the restart", seconds=120)
    burst = [m for m in receiver.accepted[count:] if m[1] in set(expected)]
    seen = {}
    for message_id, position, _ in burst:
        check(seen.setdefault(position, message_id) == message_id,
              f"position {position} came under two ids")
    first_seen = list(dict.fromkeys(p for _, p, _ in burst))
    check(first_seen == sorted(first_seen), "the burst did not arrive in the log's order")
    check(not receiver.unverified, f"unverified after the restart: {receiver.unverified}")
    print(f"webhooks scenario: {len(receiver.accepted)} messages verified with standardwebhooks, "
          f"{len(burst) - len(set(p for _, p, _ in burst))} sent again after the SIGKILL")
finally:
    service.stop()
    receiver.shutdown()
