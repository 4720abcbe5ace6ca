"""A short day of an integrator's work through a client generated from the
service's OpenAPI document (scripts/client.sh): register cases, log a call,
read a case back with typed fields, page the case list. Any step that does
not answer as documented fails the run."""

import datetime
import os
import sys
import uuid

from aftersales_client import AuthenticatedClient
from aftersales_client.api.cases import log_call, register_case
from aftersales_client.api.default import get_case, list_cases
from aftersales_client.models import CaseDetail, CaseList, CommandAccepted, LogCall, RegisterCase


def check(condition, what):
    if not condition:
        print(f"client scenario: {what}", file=sys.stderr)
        sys.exit(1)


client = AuthenticatedClient(base_url=os.environ["AFTERSALES_URL"], token=os.environ["AFTERSALES_TOKEN"])


def registration(n):
    return RegisterCase.from_dict({
        "customer": {"name": "王小明", "phone": f"1380013{n:04d}", "buyer_id": f"tb_wang{n}"},
        "order": {
            "order_no": f"TB2026030100{n}",
            "paid": {"minor": 20000, "currency": "CNY"},
            "paid_at": "2026-02-27T02:00:00Z",
            "platform_state": "seller_shipped",
        },
        "product": {"name": "智能电饭煲", "model": "IH-40B"},
        "problem": {"phenomenon": "快递显示已签收，客户未收到"},
        "channel": "phone",
        "category": "logistics",
        "priority": "P2",
    })


accepted = [register_case.sync(client=client, body=registration(n)) for n in range(3)]
for answer in accepted:
    check(isinstance(answer, CommandAccepted), f"a registration was refused: {answer}")
first = accepted[0]
check(first.events[0].type_ == "CaseRegistered", f"registration events: {first.events}")

call = LogCall.from_dict({
    "call_id": str(uuid.uuid4()),
    "direction": "outbound",
    "number": "13800130000",
    "called_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    "content": "告知客户已联系快递核实",
    "warranty": "in_warranty",
    "outcome": "connected",
    "follow_up": "notified",
})
logged = log_call.sync(id=first.id, client=client, body=call)
check(isinstance(logged, CommandAccepted), f"the call was refused: {logged}")

case = get_case.sync(id=first.id, client=client, x_min_log_position=logged.position)
check(isinstance(case, CaseDetail), f"the case did not read back: {case}")
check(case.case_id == first.id, "the case read back is another")
check(case.calls == 1, f"calls: {case.calls}")
check(case.status == "open", f"status: {case.status}")
check(case.customer.phone == "13800130000", "the registering agent sees the number")
check(case.revision == logged.revision, f"revision {case.revision} after {logged.revision}")
check([entry.revision for entry in case.timeline] == list(range(case.revision + 1)),
      f"the timeline: {case.timeline}")
check([entry.type_ for entry in case.timeline][:2] == ["CaseRegistered", "CallLogged"],
      f"the timeline's events: {case.timeline}")

seen = []
cursor = None
while True:
    page = list_cases.sync(client=client, limit=2, cursor=cursor) if cursor else list_cases.sync(client=client, limit=2)
    check(isinstance(page, CaseList), f"the case list: {page}")
    seen.extend(view.case_id for view in page.cases)
    if not isinstance(page.next_, str):
        break
    cursor = page.next_
check(seen == [answer.id for answer in accepted], f"paged {seen}")

print(f"client scenario: 3 cases registered, a call logged, a case read back at revision {case.revision}, 2 pages listed")
