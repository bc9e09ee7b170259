"""The inspector's notifications view (issue 21 item 7): each payload as it was sent, and
"Send again": one new attempt with the same event id and body, which reaches the receiver, in
its connector's turn; what it may not do changes nothing."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.services.notifications import schedule_heads
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import count_rows
from tests.support.inspector import csrf, sign_in
from tests.support.notifications import connect, log
from tests.support.pipeline import Project, drain


@pytest.fixture
def project(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any]) -> Project:
    return Project(client, uow, seed)


def _view(project: Project) -> str:
    return f"/inspect/{project.team_id}/project/{project.project_id}/notifications"


def _signed_in(client: FlaskClient, uow: UnitOfWork, project: Project,
               scopes: list[str]) -> FlaskClient:
    key = create_key(uow, project.team_id, scopes, [project.project_id]).key
    assert sign_in(client, key).status_code == 303
    return client


def _payloads(page: str) -> dict[str, Any]:
    """Each notification's payload as the view shows it, by id."""
    shown = re.findall(r'<tbody class="notification" id="notification-(evt_\w+)".*?'
                       r'<pre class="payload-body">(.*?)</pre>', page, re.S)
    return {evt: json.loads(html.unescape(body)) for evt, body in shown}


def _resend(client: FlaskClient, project: Project, evt: str, token: str | None) -> Any:
    data = {"csrf_token": token} if token is not None else {}
    return client.post(f"{_view(project)}/{evt}/resend", data=data)


def test_the_view_shows_each_payload_as_the_receiver_got_it(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    connect(project, receiver.url)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    assert project.post(f"/task/{task_id}/complete").status_code == 200
    drain(engine, config)
    got = receiver.wait_count(3)
    viewer = _signed_in(client, uow, project, ["upload.read"])
    page = viewer.get(_view(project)).text
    assert _payloads(page) == {r.json["id"]: r.json for r in got}
    assert 'id="resend-' not in page  # no task.edit: no button


def test_send_again_is_a_new_attempt_with_the_same_event_id_and_body(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    connect(project, receiver.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [first] = receiver.wait_count(1)
    evt = first.json["id"]
    editor = _signed_in(client, uow, project, ["upload.read", "task.edit"])
    page = editor.get(_view(project)).text
    assert f'id="resend-{evt}"' in page and "one new attempt, #2, same event id" in page

    answer = _resend(editor, project, evt, csrf(page))
    assert answer.status_code == 303
    shown = editor.get(answer.location).text
    assert f"Notification {evt} will be sent again, as attempt 2" in shown
    assert 'data-status="pending"' in shown and "data-refresh" in shown
    drain(engine, config)
    _, again = receiver.wait_count(2)
    assert again.headers["X-Sendai-Event-Id"] == evt and again.body == first.body
    assert (first.headers["X-Sendai-Attempt"], again.headers["X-Sendai-Attempt"]) == ("1", "2")
    [entry] = log(project)
    assert entry["status"] == "delivered"
    assert [(a["n"], a["status_code"]) for a in entry["attempts"]] == [(1, 200), (2, 200)]


def test_a_failed_notification_sent_again_gets_one_attempt_and_can_be_delivered(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    scripted = Receiver([500, 500, 503, 200])
    receivers.append(scripted)
    connect(project, scripted.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    settings = config.with_overrides(delivery_backoff_seconds=0.0, delivery_attempts=2)
    drain(engine, settings)
    [entry] = log(project)
    assert entry["status"] == "failed" and len(entry["attempts"]) == 2
    editor = _signed_in(client, uow, project, ["upload.read", "task.edit"])
    token = csrf(editor.get(_view(project)).text)

    assert _resend(editor, project, entry["id"], token).status_code == 303
    drain(engine, settings)  # 503: failed again, after this one attempt
    [entry] = log(project)
    assert entry["status"] == "failed"
    assert [(a["n"], a["status_code"]) for a in entry["attempts"]] == [(1, 500), (2, 500),
                                                                       (3, 503)]
    assert _resend(editor, project, entry["id"], token).status_code == 303
    drain(engine, settings)
    [entry] = log(project)
    assert entry["status"] == "delivered" and entry["attempts"][-1]["n"] == 4
    got = scripted.wait_count(4)
    assert [r.headers["X-Sendai-Attempt"] for r in got] == ["1", "2", "3", "4"]
    assert {r.headers["X-Sendai-Event-Id"] for r in got} == {entry["id"]}


def test_a_pending_notification_is_not_sent_twice(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    scripted = Receiver([500])
    receivers.append(scripted)
    connect(project, scripted.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config.with_overrides(delivery_backoff_seconds=60.0))  # retried in a minute
    [entry] = log(project)
    assert entry["status"] == "pending" and len(entry["attempts"]) == 1
    editor = _signed_in(client, uow, project, ["upload.read", "task.edit"])
    page = editor.get(_view(project)).text
    assert f'id="resend-{entry["id"]}"' not in page
    jobs = count_rows(engine, "SELECT count(*) FROM job")
    answer = editor.post(f"{_view(project)}/{entry['id']}/resend",
                         data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "is still pending: its next attempt is already queued" in answer.text
    assert count_rows(engine, "SELECT count(*) FROM job") == jobs


@pytest.mark.parametrize(("scopes", "token", "status"), [
    (["upload.read"], "good", 403),  # no task.edit
    (["task.read", "task.edit"], "good", 403),  # no upload.read
    (["upload.read", "task.edit"], None, 403),  # no CSRF token
    (["upload.read", "task.edit"], "forged", 403),
])
def test_send_again_without_its_scopes_or_token_changes_nothing(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receiver: Receiver, scopes: list[str], token: str | None, status: int,  # noqa: F811
) -> None:
    connect(project, receiver.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [entry] = log(project)
    user = _signed_in(client, uow, project, scopes)
    real = csrf(user.get("/inspect/projects").text)
    sent = {"good": real, "forged": "x" * 43, None: None}[token]
    answer = _resend(user, project, entry["id"], sent)
    assert answer.status_code == status
    assert count_rows(engine, "SELECT count(*) FROM job") == 0
    [after] = log(project)
    assert after["status"] == "delivered" and len(after["attempts"]) == 1
    assert len(receiver.received) == 1


def test_another_projects_notification_is_not_found(
    client: FlaskClient, uow: UnitOfWork, project: Project, seed: dict[str, Any],
    engine: Engine, config: Config, receiver: Receiver,
) -> None:
    connect(project, receiver.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [entry] = log(project)
    elsewhere = Project(client, uow, seed)
    user = _signed_in(client, uow, elsewhere, ["upload.read", "task.edit"])
    token = csrf(user.get(_view(elsewhere)).text)
    assert _resend(user, elsewhere, entry["id"], token).status_code == 404
    assert _resend(user, project, entry["id"], token).status_code == 404  # not its project
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


def test_a_notification_of_a_connector_a_410_disabled_is_not_sent_again(
    client: FlaskClient, uow: UnitOfWork, project: Project, engine: Engine, config: Config,
    receivers: list[Receiver],  # noqa: F811
) -> None:
    """docs/notifications.md: a 410 disables the connector, no further attempts: Send again is
    refused and nothing is queued; the connector's queue (services/notifications.schedule_heads)
    gives a disabled connector no job, even for a notification left pending."""
    gone = Receiver(default=410)
    receivers.append(gone)
    made = connect(project, gone.url, events=["upload.in_review"])
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    [entry] = log(project)
    assert entry["status"] == "failed" and len(entry["attempts"]) == 1
    editor = _signed_in(client, uow, project, ["upload.read", "task.edit"])
    page = editor.get(_view(project)).text
    assert "<strong>disabled</strong>" in page
    answer = editor.post(f"{_view(project)}/{entry['id']}/resend",
                         data={"csrf_token": csrf(page)}, follow_redirects=True)
    assert "was disabled by a 410 answer" in answer.text
    assert [e["status"] for e in log(project)] == ["failed"]
    assert count_rows(engine, "SELECT count(*) FROM job") == 0
    with uow.write() as conn:
        conn.execute(text("UPDATE notification SET status = 'pending'"))
        schedule_heads(conn, [made["id"]])
    assert count_rows(engine, "SELECT count(*) FROM job") == 0
    assert len(gone.received) == 1
