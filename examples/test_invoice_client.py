"""The invoice integration against a real sendai-server, through the `sendai` fixture of the
installed sendai-server's pytest plugin alone: each test gets a project of its own."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from invoice_client import NotForReview, SendAI, SendAIError, invoice_total, triage_invoice

INVOICE_PAGE = {
    "width": 2480, "height": 3508,
    "annotations": [
        {"entity_id": "supplier", "confidence": 0.95, "content": "Acme B.V.",
         "top": 80.0, "left_of_line": 120.0},
        {"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
         "top": 120.5, "left_of_line": 340.0},
    ],
}
BLANK_PAGE = {"width": 2480, "height": 3508}


@pytest.fixture
def client(sendai) -> SendAI:
    return SendAI(sendai.key("task.read", "task.edit"), sendai.team_id, sendai.project_id,
                  base_url=sendai.base_url, poll_interval=0.05)


def later(seconds, function, *args):
    """What the pipeline would do meanwhile, in `seconds`."""
    timer = threading.Timer(seconds, function, args)
    timer.start()
    return timer


def test_get_task_answers_the_task_with_its_pages(sendai, client):
    task_id = sendai.task(status="REVIEWING", pages=[INVOICE_PAGE], name="Invoice 7")

    task = client.get_task(task_id)

    assert (task["id"], task["name"], task["status"]) == (task_id, "Invoice 7", "REVIEWING")
    assert [a["entity_id"] for a in task["pages"][0]["annotations"]] == [
        "supplier", "total_amount"]


def test_invoice_total_reads_the_total_amount(sendai, client):
    with_total = client.get_task(sendai.task(pages=[BLANK_PAGE, INVOICE_PAGE]))
    without = client.get_task(sendai.task(pages=[BLANK_PAGE]))

    assert invoice_total(with_total) == Decimal("1234.56")
    assert invoice_total(without) is None


def test_wait_until_in_review_returns_once_processing_is_done(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[INVOICE_PAGE])
    later(0.3, sendai.advance, task_id, "to_review")

    assert client.wait_until_in_review(task_id, timeout=10)["status"] == "REVIEWING"


@pytest.mark.parametrize("event, status", [("fail", "FAILED"), ("filter", "FILTERED"),
                                           ("auto_complete", "COMPLETED")])
def test_wait_until_in_review_stops_when_the_task_settles_elsewhere(sendai, client, event,
                                                                     status):
    task_id = sendai.task(status="PROCESSING")
    later(0.2, sendai.advance, task_id, event)

    with pytest.raises(NotForReview, match=f"is {status}"):
        client.wait_until_in_review(task_id, timeout=10)


def test_wait_until_in_review_gives_up_after_its_timeout(sendai, client):
    task_id = sendai.task(status="PROCESSING")

    with pytest.raises(TimeoutError, match="still PROCESSING"):
        client.wait_until_in_review(task_id, timeout=0.3)


def test_discard_task_discards_a_task_in_review(sendai, client):
    task_id = sendai.task(status="REVIEWING")

    assert client.discard_task(task_id)["status"] == "DISCARDED"
    assert sendai.get_task(task_id)["status"] == "DISCARDED"


@pytest.mark.parametrize("status", ["PROCESSING", "COMPLETED", "FAILED", "DISCARDED",
                                    "FILTERED"])
def test_discard_task_outside_review_is_an_error_the_client_can_read(sendai, client, status):
    task_id = sendai.task(status=status)

    with pytest.raises(SendAIError) as refused:
        client.discard_task(task_id)

    assert (refused.value.status, refused.value.code) == (400, "invalid_task_state")
    assert sendai.get_task(task_id)["status"] == status


def test_a_read_only_key_cannot_discard(sendai):
    read_only = SendAI(sendai.key("task.read"), sendai.team_id, sendai.project_id,
                       base_url=sendai.base_url)

    with pytest.raises(SendAIError) as refused:
        read_only.discard_task(sendai.task())

    assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")


def test_another_projects_task_is_not_found(sendai, client):
    elsewhere = sendai.project().task()

    with pytest.raises(SendAIError) as refused:
        client.get_task(elsewhere)

    assert (refused.value.status, refused.value.code) == (404, "not_found")


def test_triage_returns_the_total_and_keeps_the_invoice_for_review(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[INVOICE_PAGE])
    later(0.2, sendai.advance, task_id, "to_review")

    assert triage_invoice(client, task_id, timeout=10) == Decimal("1234.56")
    assert sendai.get_task(task_id)["status"] == "REVIEWING"


def test_triage_discards_an_invoice_without_a_total(sendai, client):
    task_id = sendai.task(status="PROCESSING", pages=[BLANK_PAGE])
    later(0.2, sendai.advance, task_id, "to_review")

    assert triage_invoice(client, task_id, timeout=10) is None
    sendai.wait_for(task_id, "DISCARDED", timeout=1)
