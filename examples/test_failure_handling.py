"""docs/failures.md at length: each test states how Send AI fails with
`sendai.fault(...)` (docs/failures.md), runs the client's code, and sees it cope. The fault is
removed when its `with` block ends, whatever happened inside."""

from __future__ import annotations

import pytest
from invoice_client import SendAI, SendAIError, handle_notification
from retrying_client import NotificationInbox, discard_with_retries

INVOICE_PAGE = {
    "width": 2480, "height": 3508,
    "annotations": [{"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
                     "top": 120.5, "left_of_line": 340.0}],
}


@pytest.fixture
def client(sendai) -> SendAI:
    return SendAI(sendai.key("task.read", "task.edit"), sendai.team_id, sendai.project_id,
                  base_url=sendai.base_url)


# 1. A 503 in the middle of a discard: the client waits as told and tries again.
def test_a_503_is_retried_after_its_retry_after(sendai, client):
    task_id = sendai.task(status="REVIEWING")
    waited = []

    with sendai.fault("discardTask", status=503, retry_after=2, times=2) as fault:
        task = discard_with_retries(client, task_id, sleep=waited.append)

    assert task["status"] == "DISCARDED"
    assert waited == [2.0, 2.0]  # Retry-After, twice; then the third attempt went through
    assert fault["id"].startswith("flt_")


def test_a_client_gives_up_when_the_503s_do_not_stop(sendai, client):
    task_id = sendai.task(status="REVIEWING")

    with sendai.fault("discardTask", status=503, times=None), pytest.raises(SendAIError):
        discard_with_retries(client, task_id, attempts=3, sleep=lambda s: None)

    assert sendai.get_task(task_id)["status"] == "REVIEWING"  # nothing happened


# 2. The answer is lost after the change committed: the retry meets invalid_task_state, and
#    the client must treat that as success.
@pytest.mark.parametrize("lost", [{"status": 502, "body": "html"}, {"drop": True}],
                         ids=["load_balancer_502", "connection_dropped"])
def test_an_answer_lost_after_the_discard_committed_is_a_success(sendai, client, lost):
    task_id = sendai.task(status="REVIEWING")

    with sendai.fault("discardTask", after=True, task_id=task_id, **lost):
        task = discard_with_retries(client, task_id, sleep=lambda s: None)

    assert task["status"] == "DISCARDED"
    assert [e["action"] for e in client.http.get(
        f"{client.url}/task/{task_id}/events").json()["payload"]][-1:] == ["discard"]


def test_invalid_task_state_without_a_lost_answer_is_still_an_error(sendai, client):
    task_id = sendai.task(status="COMPLETED")

    with pytest.raises(SendAIError) as refused:
        discard_with_retries(client, task_id, sleep=lambda s: None)

    assert refused.value.code == "invalid_task_state"


# 3. A notification delivered twice (one event id): the receiver acts once.
def test_a_notification_delivered_twice_is_acted_on_once(sendai):
    invoices = sendai.project(pipeline="auto")
    importer = SendAI(invoices.key("upload.create", "task.read", "task.edit"),
                      invoices.team_id, invoices.project_id, base_url=invoices.base_url)
    scan = ("invoice.pdf", b"%PDF-1.4 an invoice")
    invoices.outcome(scan, "REVIEWING", pages=[INVOICE_PAGE])
    imported = []
    inbox = NotificationInbox(lambda n: imported.extend(handle_notification(importer, n)))

    invoices.clock.freeze()  # deliveries happen when the test moves the clock (docs/clock.md)
    with invoices.fault(event="upload.in_review", duplicate=2):
        [task_id] = invoices.upload(scan)["taskIds"]
        invoices.clock.advance(seconds=1)
    first, second = [n for n in invoices.notifications if n["event"] == "UPLOAD_IN_REVIEW"]

    assert first == second  # the same notification, the same id
    assert [inbox.receive(first), inbox.receive(second)] == [True, False]
    assert [invoice.task_id for invoice in imported] == [task_id]
    assert invoices.get_task(task_id)["status"] == "DISCARDED"
