"""Testing what takes time (docs/clock.md): the team's clock is frozen, the test moves it, and
`advance` answers once everything that fell due has run. No sleep, no polling, no `wait_for`:
an upload that takes half a minute, a receiver down for three days and a token that expires
after an hour each take a fraction of a second, the same on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from invoice_client import SendAI
from webhook_server import Answer, WebhookServer

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SCAN = ("invoice.pdf", b"%PDF-1.4 an invoice")
INVOICE_PAGE = {
    "width": 2480, "height": 3508,
    "annotations": [{"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
                     "top": 120.5, "left_of_line": 340.0}],
}


@pytest.fixture
def receiver():
    server = WebhookServer()
    yield server
    server.close()


def in_review(project, seconds=0.0):
    """A project whose pipeline runs and takes `seconds` per step, its clock frozen at 9:00 on
    a Monday, and the scan it will be sent registered to go to review."""
    invoices = project.project(pipeline="auto", delay=seconds)
    invoices.clock.freeze(MONDAY)
    invoices.outcome(SCAN, "REVIEWING", pages=[INVOICE_PAGE])
    return invoices


def at(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# 1. A client that polls an upload until it is in review: the half minute Send AI takes to
#    process it passes in one call.
def test_a_client_polling_an_upload_sees_it_in_review_once_the_clock_has_moved(sendai,
                                                                               tmp_path):
    invoices = in_review(sendai, seconds=30)
    client = SendAI(invoices.key("upload.create", "task.read", "task.edit"), invoices.team_id,
                    invoices.project_id, base_url=invoices.base_url)
    scan = tmp_path / SCAN[0]
    scan.write_bytes(SCAN[1])
    [task_id] = client.upload(scan)["taskIds"]

    invoices.clock.advance(seconds=29)
    assert client.get_task(task_id)["status"] == "PROCESSING"  # nothing moves by itself

    ran = invoices.clock.advance(seconds=1)

    task = client.wait_until_in_review(task_id, timeout=0)  # in review at the first poll
    assert task["status"] == "REVIEWING"
    assert at(task["created_at"]) == MONDAY  # on the team's clock
    moved = client.http.get(f"{client.url}/task/{task_id}/events", timeout=10).json()
    assert [(e["to_status"], at(e["created_at"])) for e in moved["payload"]][-1] == (
        "REVIEWING", MONDAY + timedelta(seconds=30))
    assert ran and all(job["outcome"] for job in ran)
    [notification] = [n for n in invoices.notifications if n["event"] == "UPLOAD_IN_REVIEW"]
    assert notification["upload"]["files"].keys() == {task_id}


# 2. A receiver down for three days: every attempt on the documented backoff (1, 2, 4, ... s
#    apart), then the notification is `failed`, all in one advance.
def test_a_receiver_down_for_three_days_gets_eight_attempts_then_the_notification_fails(
        sendai):
    down = WebhookServer(lambda request: Answer(500))
    try:
        invoices = in_review(sendai)
        connector = invoices.connector(down.url + "/hooks/send-ai", secret="s3cret",
                                       events=["upload.in_review"])
        invoices.upload(SCAN)

        invoices.clock.advance(days=3)

        tried = down.got("/hooks/send-ai")
    finally:
        down.close()
    assert [int(r.headers["X-Sendai-Attempt"]) for r in tried] == [1, 2, 3, 4, 5, 6, 7, 8]
    signed_at = [int(r.headers["X-Sendai-Signature"].split(",")[0][2:]) for r in tried]
    gaps = [later - sooner for sooner, later in zip(signed_at, signed_at[1:], strict=False)]
    assert gaps == [1, 2, 4, 8, 16, 32, 64]
    assert signed_at[0] == int(MONDAY.timestamp())  # signed on the team's clock

    [failed] = [n for n in notifications(invoices, "failed")
                if n["connector_id"] == connector["id"]]
    assert [at(a["at"]) for a in failed["attempts"]] == [
        datetime.fromtimestamp(t, UTC) for t in signed_at]
    assert {a["status_code"] for a in failed["attempts"]} == {500}


def notifications(project, status):
    """The project's notifications in `status`, and each one's attempts, as the API lists
    them (`GET …/notifications`)."""
    answer = requests.get(f"{project.api_url}/notifications", params={"status": status},
                          headers={"Authorization": f"Bearer {project.key('upload.read')}"},
                          timeout=10)
    answer.raise_for_status()
    return answer.json()["payload"]


# 3. An OAuth2 connector: its token lasts an hour, so a notification half an hour later uses
#    the same token and one the next day makes the connector fetch a new one, once.
def test_an_oauth2_token_is_kept_for_its_lifetime_and_renewed_once_it_expires(sendai,
                                                                              receiver):
    issued = []

    def token_endpoint(request):
        issued.append(f"token-{len(issued) + 1}")
        return Answer(200, {"access_token": issued[-1], "token_type": "Bearer",
                            "expires_in": 3600})

    tokens = WebhookServer(token_endpoint)
    try:
        invoices = in_review(sendai)
        invoices.connector(receiver.url + "/hooks/send-ai", events=["upload.in_review"],
                           oauth2={"token_url": tokens.url + "/oauth/token",
                                   "client_id": "send-ai", "client_secret": "s3cret"})

        for wait in (timedelta(0), timedelta(minutes=30), timedelta(days=1)):
            invoices.clock.advance(seconds=wait.total_seconds())
            invoices.upload(SCAN)
            invoices.clock.advance(seconds=2)
    finally:
        tokens.close()

    delivered = receiver.got("/hooks/send-ai")
    assert [r.headers["Authorization"] for r in delivered] == [
        "Bearer token-1", "Bearer token-1", "Bearer token-2"]
    assert issued == ["token-1", "token-2"]  # renewed once
    assert "grant_type=client_credentials" in tokens.requests[0].body.decode()
