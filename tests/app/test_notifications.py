"""Notifications and export (docs/notifications.md) in-process, on SQLite and PostgreSQL: connectors
made with the test helpers, uploads through the API, jobs run by the worker's own handlers (`drain`)
or by `run_worker` in threads, deliveries over real HTTP to a receiver started by the test."""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.domain.extracted_data import extracted_data
from sendai_server.domain.lifecycle import TaskStatus
from sendai_server.pipeline.deliveries import sign
from sendai_server.pipeline.worker import run_worker
from sendai_server.services.upload_status import Settled, settle_upload
from sendai_server.store.models import utcnow
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import DEADLINE, Receiver
from tests.support import documents
from tests.support.cli import run_process
from tests.support.helpers import REPO_ROOT, auth, count_rows
from tests.support.notifications import connect, log
from tests.support.pipeline import Project, drain
from tests.support.processes import wait_until

UPLOAD_FIELDS = {"id", "name", "status", "files", "meta", "folder_id", "created_at"}
PAYLOAD_FIELDS = {"id", "event", "event_level", "team_id", "project_id", "created_at", "upload",
                  "task"}


def readme_receiver() -> dict[str, Any]:
    """docs/notifications.md's receiver, run as written (without starting its server)."""
    page = (REPO_ROOT / "docs" / "notifications.md").read_text()
    section = page[page.index("## A receiver that checks the signature"):]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    namespace: dict[str, Any] = {"__name__": "docs"}
    exec(compile(code.group(1), "docs/notifications.md", "exec"), namespace)  # noqa: S102 - our docs
    return namespace


def verify(secret: str, request: Any) -> bool:
    return bool(readme_receiver()["verify"](
        request.headers["X-Sendai-Signature"], request.body, secret.encode()))


# --- connectors ---------------------------------------------------------------------------------

def test_a_connector_is_created_listed_and_deleted_and_never_shows_its_secrets(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    made = connect(project, receiver.url, name="hook", bearer="tok-SECRET-1",
                   secret="whsec-SECRET-2", headers={"X-Team": "a"}, events=["task.export"])
    assert made["id"].startswith("conn_")
    assert (made["name"], made["method"], made["headers"], made["events"]) == (
        "hook", "POST", {"X-Team": "a"}, ["task.export"])
    assert (made["bearer"], made["secret"]) == ("***", "***")
    listed = client.get(project.path("/test_helpers/connectors"), headers=auth(project.key))
    assert listed.status_code == 200
    assert listed.get_json()["payload"] == [made]
    assert "SECRET" not in listed.get_data(as_text=True)
    deleted = client.delete(project.path(f"/test_helpers/connectors/{made['id']}"),
                            headers=auth(project.key))
    assert deleted.get_json()["payload"] == {"id": made["id"], "deleted": True}
    assert client.delete(project.path(f"/test_helpers/connectors/{made['id']}"),
                         headers=auth(project.key)).status_code == 404


@pytest.mark.parametrize("fields", [
    {"url": "ftp://127.0.0.1/x"}, {"url": "file:///etc/passwd"}, {"url": "http://"},
    {"url": "javascript:alert(1)"}, {"url": "http://h/", "method": "GET"},
    {"url": "http://h/", "events": ["upload.deleted"]}, {"url": "http://h/", "events": []},
    {"url": "http://h/", "headers": {"X-Sendai-Event-Id": "x"}},
    {"url": "http://h/", "headers": {"X-A": "a\r\nInjected: b"}},
    {"url": "http://h/", "bearer": ""},
])
def test_a_connector_that_could_not_be_sent_to_is_refused(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], fields: dict[str, Any],
) -> None:
    project = Project(client, uow, seed)
    response = project.post("/test_helpers/connectors", json=fields)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


def test_connectors_need_the_test_helpers_scope(
    client: FlaskClient, seed: dict[str, Any],
) -> None:
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/test_helpers/connectors"
    response = client.post(path, json={"url": "http://h/"}, headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 403


# --- the outbox and its deliveries --------------------------------------------------------------

def test_an_invoice_in_review_then_completed_notifies_in_order_and_is_exported(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    connector = connect(project, receiver.url, secret="whsec_test")
    upload = project.upload((documents.invoice_pdf(), "invoice.pdf"))
    [task_id] = upload["taskIds"]
    drain(engine, config)  # extract → REVIEWING, and its notification's delivery
    [review] = receiver.wait_count(1)
    body = review.json
    assert set(body) == PAYLOAD_FIELDS
    assert (body["event"], body["event_level"], body["team_id"], body["project_id"],
            body["task"]) == ("UPLOAD_IN_REVIEW", "UPLOAD", project.team_id,
                              project.project_id, None)
    got = client.get(project.path(f"/upload/{upload['id']}"), headers=auth(project.key))
    assert body["upload"] == got.get_json()["payload"]
    assert set(body["upload"]) == UPLOAD_FIELDS and body["upload"]["status"] == "IN_REVIEW"
    assert review.headers["X-Sendai-Event-Id"] == body["id"]
    assert review.headers["X-Sendai-Attempt"] == "1"
    assert review.headers["Content-Type"] == "application/json"
    assert verify("whsec_test", review)

    assert project.post(f"/task/{task_id}/complete").status_code == 200
    drain(engine, config)  # auto_complete → COMPLETED, then both deliveries
    _, export, processed = receiver.wait_count(3)
    assert [export.event, processed.event] == ["TASK_EXPORT", "UPLOAD_PROCESSED"]
    task = project.task(task_id)
    # as it was when completed, with its extracted_data (docs/profiles.md)
    assert export.json["task"] == {**task, "exported_at": None,
                                   "extracted_data": extracted_data(task["pages"])}
    assert export.json["task"]["extracted_data"]["total_amount"] == 1234.56
    assert export.json["event_level"] == "TASK" and export.json["task"]["status"] == "COMPLETED"
    assert processed.json["upload"]["status"] == "COMPLETED" and processed.json["task"] is None
    assert task["exported_at"] is not None and task["export_failed_at"] is None
    assert project.events(task_id)[-1]["action"] == "export"
    unlock = project.post(f"/task/{task_id}/unlock")
    assert unlock.status_code == 400
    assert unlock.get_json()["error"]["code"] == "invalid_task_state"
    entries = log(project, sort="created_at:asc")
    assert [(e["event"], e["status"], e["connector_id"]) for e in entries] == [
        ("UPLOAD_IN_REVIEW", "delivered", connector["id"]),
        *sorted([("TASK_EXPORT", "delivered", connector["id"]),
                 ("UPLOAD_PROCESSED", "delivered", connector["id"])],
                key=lambda e: [x["id"] for x in entries if x["event"] == e[0]][0]),
    ]
    assert {e["id"] for e in entries} == {r.json["id"] for r in receiver.received}


def test_an_upload_of_two_documents_is_in_review_once_and_processed_once_its_last_completes(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    """The upload's status follows all its tasks (docs/api/uploads.md): the first task in review
    while the other is still PROCESSING is not the upload in review, and the first completed while
    the other is in review is not the upload processed."""
    project = Project(client, uow, seed)
    connect(project, receiver.url, events=["upload.in_review", "upload.processed"])
    upload = project.upload((documents.invoice_pdf(), "a.pdf"), (documents.invoice_pdf(), "b.pdf"))
    first, second = upload["taskIds"]
    drain(engine, config)
    assert [r.event for r in receiver.wait_count(1)] == ["UPLOAD_IN_REVIEW"]
    assert project.post(f"/task/{first}/complete").status_code == 200
    drain(engine, config)
    assert project.task(first)["status"] == "COMPLETED"
    got = client.get(project.path(f"/upload/{upload['id']}"), headers=auth(project.key))
    assert got.get_json()["payload"]["status"] == "IN_REVIEW"
    # Completing went through PROCESSING (complete, then auto_complete): back in review, and
    # told so (docs/notifications.md), but not processed.
    assert [r.event for r in receiver.wait_count(2)] == ["UPLOAD_IN_REVIEW"] * 2
    assert project.post(f"/task/{second}/complete").status_code == 200
    drain(engine, config)
    [*_, processed] = receiver.wait_count(3)
    assert processed.event == "UPLOAD_PROCESSED"
    assert processed.json["upload"]["status"] == "COMPLETED"
    assert [r.event for r in receiver.received] == ["UPLOAD_IN_REVIEW"] * 2 + ["UPLOAD_PROCESSED"]


def test_settling_an_upload_sees_only_its_own_tasks_and_its_own_projects_connectors(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    """What the outbox is told after a task's change (one statement's RETURNING): on SQLite,
    whose RETURNING drops table names, a bare `id` in its subqueries once meant the task's own,
    so the other tasks were never seen and every project seemed to have connectors."""
    elsewhere = Project(client, uow, seed)
    connect(elsewhere, receiver.url)  # a connector, in another project
    project = Project(client, uow, seed)
    upload = project.upload((documents.invoice_pdf(), "a.pdf"), (documents.invoice_pdf(), "b.pdf"))
    first, _second = upload["taskIds"]
    with uow.write() as conn:
        settled = settle_upload(conn, upload["id"], first, utcnow())
    assert settled == Settled(has_connectors=False, others_in=frozenset({TaskStatus.PROCESSING}),
                              others_not_in=frozenset({TaskStatus.FAILED}))
    drain(engine, config)
    with uow.write() as conn:
        settled = settle_upload(conn, upload["id"], first, utcnow())
    assert settled == Settled(has_connectors=False, others_in=frozenset({TaskStatus.REVIEWING}),
                              others_not_in=frozenset({TaskStatus.FAILED}))
    connect(project, receiver.url)
    with uow.write() as conn:
        assert settle_upload(conn, upload["id"], first, utcnow()).has_connectors


def test_without_a_connector_nothing_is_sent_or_exported(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    project.post(f"/task/{task_id}/complete")
    drain(engine, config)
    task = project.task(task_id)
    assert (task["status"], task["exported_at"], task["export_failed_at"]) == (
        "COMPLETED", None, None)
    assert count_rows(engine, "SELECT count(*) FROM notification") == 0
    assert project.post(f"/task/{task_id}/unlock").status_code == 200


def test_a_connector_gets_only_the_events_it_subscribed_to(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    connect(project, receiver.url, events=["upload.processed"], method="PUT")
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)  # straight to COMPLETED
    [only] = receiver.wait_count(1)
    assert (only.method, only.event) == ("PUT", "UPLOAD_PROCESSED")
    assert count_rows(engine, "SELECT count(*) FROM notification") == 1


def test_a_receiver_answering_500_twice_gets_three_attempts_with_one_event_id(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    receiver = Receiver([500, 500, 200])
    receivers.append(receiver)
    project = Project(client, uow, seed)
    connect(project, receiver.url, bearer="tok", headers={"X-Team": "t1"})
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config.with_overrides(delivery_backoff_seconds=0.0))
    got = receiver.wait_count(3)
    assert len(got) == 3
    assert {r.headers["X-Sendai-Event-Id"] for r in got} == {got[0].json["id"]}
    assert [r.headers["X-Sendai-Attempt"] for r in got] == ["1", "2", "3"]
    assert {r.body for r in got} == {got[0].body}  # the same bytes every time
    assert all(r.headers["Authorization"] == "Bearer tok" and r.headers["X-Team"] == "t1"
               for r in got)
    assert "X-Sendai-Signature" not in got[0].headers  # no secret, no signature
    [entry] = log(project)
    assert entry["status"] == "delivered"
    assert [(a["n"], a["status_code"], a["error"]) for a in entry["attempts"]] == [
        (1, 500, None), (2, 500, None), (3, 200, None)]
    assert all(a["duration_ms"] >= 0 and a["at"] for a in entry["attempts"])


def test_a_signature_verifies_with_the_secret_only_and_only_for_the_body_sent() -> None:
    body = b'{"id":"evt_1","event":"UPLOAD_IN_REVIEW"}'
    header = sign("whsec_right", body, 1_700_000_000)
    receiver = readme_receiver()
    now = receiver["time"].time
    receiver["time"].time = lambda: 1_700_000_010.0
    try:
        assert receiver["verify"](header, body, b"whsec_right")
        assert not receiver["verify"](header, body, b"whsec_wrong")
        assert not receiver["verify"](header, body.replace(b"REVIEW", b"REVIEX"),
                                      b"whsec_right")
        assert not receiver["verify"](header.replace("t=1700000000", "t=1700000001"), body,
                                      b"whsec_right")
        receiver["time"].time = lambda: 1_700_001_000.0  # replayed much later
        assert not receiver["verify"](header, body, b"whsec_right")
    finally:
        receiver["time"].time = now


def test_a_receiver_that_never_answers_fails_the_export_while_others_are_delivered_on_time(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    dead, alive = Receiver(default="hold"), Receiver()
    receivers.extend([dead, alive])
    stuck = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    connect(stuck, dead.url, events=["task.export"])
    other = Project(client, uow, seed)
    connect(other, alive.url)
    fast = config.with_overrides(delivery_timeout_seconds=0.3, delivery_backoff_seconds=0.05,
                                 delivery_attempts=3, worker_poll_seconds=0.05)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(engine, fast),
                              kwargs={"concurrency": 1, "delivery_concurrency": 2, "stop": stop})
    worker.start()
    try:
        [task_id] = stuck.upload((documents.invoice_pdf(), "a.pdf"))["taskIds"]
        dead.wait_count(1)  # the first attempt is in flight
        other.upload((documents.invoice_pdf(), "b.pdf"))
        [delivered] = alive.wait_count(1)
        dead_attempts = len(dead.received)
        assert dead_attempts < 3, "the other upload waited for the dead receiver"
        wait_until(lambda: stuck.task(task_id)["export_failed_at"] is not None,
                   "export_fail", DEADLINE)
    finally:
        stop.set()
        worker.join(DEADLINE)
    assert delivered.event == "UPLOAD_IN_REVIEW"
    [entry] = log(stuck)
    assert entry["status"] == "failed"
    assert [(a["n"], a["status_code"]) for a in entry["attempts"]] == [
        (1, None), (2, None), (3, None)]
    assert all("no answer within 0.3 s" in a["error"] for a in entry["attempts"])
    assert {r.headers["X-Sendai-Event-Id"] for r in dead.received} == {entry["id"]}
    task = stuck.task(task_id)
    assert (task["exported_at"], task["status"]) == (None, "COMPLETED")
    assert stuck.events(task_id)[-1]["action"] == "export_fail"
    assert log(stuck, status="failed") == [entry] and log(stuck, status="delivered") == []


def test_a_held_delivery_does_not_hold_up_the_pipeline(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    """One pipeline thread and one delivery thread: while a receiver holds a delivery open,
    the next upload is still extracted."""
    held = Receiver(["hold"])
    receivers.append(held)
    project = Project(client, uow, seed)
    connect(project, held.url)
    stop = threading.Event()
    worker = threading.Thread(
        target=run_worker, args=(engine, config.with_overrides(worker_poll_seconds=0.05)),
        kwargs={"concurrency": 1, "delivery_concurrency": 1, "stop": stop})
    worker.start()
    try:
        project.upload((documents.invoice_pdf(), "a.pdf"))
        held.wait_count(1)
        [second] = project.upload((documents.png((64, 64)), "b.png"))["taskIds"]
        wait_until(lambda: project.task(second)["status"] == "REVIEWING", "the second extract",
                   DEADLINE)
        assert len(held.received) == 1 and not held.release.is_set()
        held.release.set()
        held.wait_count(2)  # then the second upload's, in order, after the first
    finally:
        held.release.set()
        stop.set()
        worker.join(DEADLINE)
    assert [e["status"] for e in log(project)] == ["delivered", "delivered"]


def test_the_log_pages_with_signed_tokens_and_filters_by_status(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    connect(project, receiver.url)
    for n in range(3):
        project.upload((documents.png((8 + n, 8)), f"{n}.png"))
    drain(engine, config)
    first = client.get(project.path("/notifications"), query_string={"limit": 2},
                       headers=auth(project.key)).get_json()
    assert (len(first["payload"]), first["count"], first["more"]) == (2, 3, True)
    second = client.get(project.path("/notifications"),
                        query_string={"limit": 2, "token": first["paginationToken"]},
                        headers=auth(project.key)).get_json()
    assert (len(second["payload"]), second["more"], second["paginationToken"]) == (1, False, None)
    ids = [e["id"] for e in first["payload"] + second["payload"]]
    assert len(set(ids)) == 3
    other_filter = client.get(project.path("/notifications"), query_string={
        "limit": 2, "status": "pending", "token": first["paginationToken"]},
        headers=auth(project.key))
    assert other_filter.status_code == 400
    assert client.get(project.path("/notifications"), query_string={"status": "lost"},
                      headers=auth(project.key)).status_code == 400
    assert log(project, status="pending") == []


def test_the_log_needs_upload_read_and_shows_only_the_keys_projects(
    client: FlaskClient, seed: dict[str, Any],
) -> None:
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/notifications"
    assert client.get(path, headers=auth(seed["keys"]["read"])).status_code == 403
    other = f"/v2/{seed['other']['team_id']}/project/{seed['other']['project_id']}/notifications"
    assert client.get(other, headers=auth(seed["keys"]["helpers"])).status_code == 404


def test_an_unlocked_task_notifies_in_review_again_and_a_deleted_connector_stops_deliveries(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    made = connect(project, receiver.url, events=["upload.in_review", "upload.processed"])
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    assert project.post(f"/task/{task_id}/unlock").status_code == 200  # never exported
    drain(engine, config)
    assert [r.event for r in receiver.wait_count(2)] == ["UPLOAD_PROCESSED", "UPLOAD_IN_REVIEW"]
    client.delete(project.path(f"/test_helpers/connectors/{made['id']}"),
                  headers=auth(project.key))
    assert count_rows(engine, "SELECT count(*) FROM notification") == 0
    project.post(f"/task/{task_id}/complete")
    drain(engine, config)
    assert len(receiver.received) == 2


def test_a_connector_deleted_while_its_delivery_is_in_flight_ends_the_job_quietly(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver], caplog: pytest.LogCaptureFixture,
) -> None:
    """The receiver holds the request while the connector (and its notification) is deleted:
    the attempt has nothing left to be recorded on, so the job ends, not fails and queues
    again (seen in CI: a retried delivery outlived the plugin's test that made it)."""
    held = Receiver(["hold"])
    receivers.append(held)
    project = Project(client, uow, seed)
    made = connect(project, held.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    running = threading.Thread(target=drain, args=(engine, config))
    running.start()
    try:
        held.wait_count(1)
        deleted = client.delete(project.path(f"/test_helpers/connectors/{made['id']}"),
                                headers=auth(project.key))
        assert deleted.status_code == 200, deleted.get_json()
    finally:
        held.release.set()
        running.join(DEADLINE)
    assert not running.is_alive()
    assert count_rows(engine, "SELECT count(*) FROM job") == 0
    assert count_rows(engine, "SELECT count(*) FROM notification_attempt") == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.slow  # five `sendai-server` processes: about 15 s
def test_the_cli_creates_lists_and_deletes_connectors_and_never_prints_the_secrets(
    database_url: str, client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    project = Project(client, uow, seed)
    created = run_process(database_url, "connectors", "create", "--project",
                          project.project_id, "--url", "https://example.test/hook",
                          "--bearer", "tok-SECRET-1", "--secret", "whsec-SECRET-2",
                          "--header", "X-Team: a", "--event", "task.export", "--json")
    assert created.returncode == 0, created.stderr
    connector_id = json.loads(created.stdout)["connector_id"]
    listed = run_process(database_url, "connectors", "list", "--project", project.project_id,
                         "--json")
    [shown] = json.loads(listed.stdout)["connectors"]
    assert (shown["id"], shown["bearer"], shown["secret"], shown["headers"]) == (
        connector_id, "***", "***", {"X-Team": "a"})
    output = created.stdout + created.stderr + listed.stdout + listed.stderr
    assert "SECRET" not in output
    bad = run_process(database_url, "connectors", "create", "--project", project.project_id,
                      "--url", "ftp://example.test/")
    assert bad.returncode == 1 and "http" in bad.stderr
    deleted = run_process(database_url, "connectors", "delete", connector_id)
    assert deleted.returncode == 0, deleted.stderr
    assert run_process(database_url, "connectors", "delete", connector_id).returncode == 1


def test_the_inspector_shows_each_delivery_and_what_its_receiver_answered(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    from sendai_server.services.keys import create_key
    from tests.support.inspector import sign_in

    receiver = Receiver([500, 200])
    receivers.append(receiver)
    project = Project(client, uow, seed)
    connect(project, receiver.url)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config.with_overrides(delivery_backoff_seconds=0.0))
    receiver.wait_count(2)
    [entry] = log(project)
    reader = create_key(uow, project.team_id, ["upload.read"], [project.project_id]).key
    assert sign_in(client, reader).status_code == 303
    page = client.get(f"/inspect/{project.team_id}/project/{project.project_id}/notifications")
    assert page.status_code == 200
    html = page.text
    assert entry["id"] in html and "UPLOAD_IN_REVIEW" in html and "delivered" in html
    assert "<strong>500</strong>" in html and "<strong>200</strong>" in html
    other = client.get(f"/inspect/{seed['other']['team_id']}/project/"
                       f"{seed['other']['project_id']}/notifications")
    assert other.status_code == 404
