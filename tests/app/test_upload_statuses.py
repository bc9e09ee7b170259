"""An upload's PARTIAL and FAILED statuses (docs/api/uploads.md) on SQLite and PostgreSQL: in the
object, the list's filter, the inspector's list, the move to Processed, and `upload.processed`."""

from __future__ import annotations

import hashlib
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import auth
from tests.support.notifications import connect
from tests.support.pipeline import Project, drain


def upload_of(project: Project, upload_id: str) -> dict[str, Any]:
    response = project.client.get(project.path(f"/upload/{upload_id}"),
                                  headers=auth(project.key))
    assert response.status_code == 200
    return response.get_json()["payload"]  # type: ignore[no-any-return]


def listed(project: Project, *statuses: str) -> list[str]:
    response = project.client.get(project.path("/upload"), query_string={"status": statuses},
                                  headers=auth(project.key))
    assert response.status_code == 200, response.get_json()
    return [u["id"] for u in response.get_json()["payload"]]


def test_uploads_whose_tasks_failed_are_failed_or_partial_and_say_so_once(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    connect(project, receiver.url, events=["upload.in_review", "upload.processed"])
    failed = project.upload((documents.damaged_pdf(), "broken.pdf"))
    partial = project.upload((documents.invoice_pdf(), "good.pdf"),
                             (documents.damaged_pdf(), "broken.pdf"))
    completed = project.upload((documents.invoice_pdf(), "fine.pdf"))
    assert set(listed(project, "PROCESSING")) == {failed["id"], partial["id"], completed["id"]}
    drain(engine, config)
    statuses = {u: upload_of(project, u)["status"]
                for u in (failed["id"], partial["id"], completed["id"])}
    assert statuses == {failed["id"]: "FAILED", partial["id"]: "PARTIAL",
                        completed["id"]: "COMPLETED"}
    assert listed(project, "PARTIAL") == [partial["id"]]
    assert listed(project, "FAILED") == [failed["id"]]
    assert set(listed(project, "FAILED", "PARTIAL")) == {failed["id"], partial["id"]}
    assert listed(project, "IN_REVIEW") == []
    processed = project.folders["Processed"] if isinstance(project.folders, dict) else None
    folders = {upload_of(project, u)["folder_id"] for u in statuses}
    assert len(folders) == 1 and (processed is None or folders == {processed})
    got = receiver.wait_count(3)
    by_upload = {r.json["upload"]["id"]: r for r in got}
    assert {r.event for r in got} == {"UPLOAD_PROCESSED"}
    assert {u: r.json["upload"]["status"] for u, r in by_upload.items()} == statuses


def test_a_failed_task_retried_and_completed_turns_a_partial_upload_completed(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    """PARTIAL, then PROCESSING again (retry), then COMPLETED (a registered outcome): each
    becoming processed is told."""
    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    connect(project, receiver.url, events=["upload.processed"])
    upload = project.upload((documents.invoice_pdf(), "good.pdf"),
                            (documents.damaged_pdf(), "broken.pdf"))
    _, broken = upload["taskIds"]
    drain(engine, config)
    assert upload_of(project, upload["id"])["status"] == "PARTIAL"
    outcome = project.post("/test_helpers/outcomes", json={
        "sha256": hashlib.sha256(documents.damaged_pdf()).hexdigest(), "status": "COMPLETED"})
    assert outcome.status_code == 201, outcome.get_json()
    retried = project.post(f"/test_helpers/task/{broken}/advance", json={"event": "retry"})
    assert retried.status_code == 200, retried.get_json()
    assert upload_of(project, upload["id"])["status"] == "PROCESSING"
    drain(engine, config)
    assert upload_of(project, upload["id"])["status"] == "COMPLETED"
    got = receiver.wait_count(2)
    assert [r.json["upload"]["status"] for r in got] == ["PARTIAL", "COMPLETED"]


def test_an_unknown_upload_status_is_refused(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    project = Project(client, uow, seed)
    response = client.get(project.path("/upload"), query_string={"status": "REVIEWING"},
                          headers=auth(project.key))
    assert response.status_code == 400


def test_the_inspector_lists_and_filters_partial_and_failed_uploads(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    from tests.support.inspector import sign_in

    project = Project(client, uow, seed)
    failed = project.upload((documents.damaged_pdf(), "broken-alone.pdf"))
    partial = project.upload((documents.png((64, 64)), "scan.png"),
                             (documents.damaged_pdf(), "broken-beside.pdf"))
    drain(engine, config)
    reader = create_key(uow, project.team_id, ["upload.read"], [project.project_id]).key
    assert sign_in(client, reader).status_code == 303
    base = f"/inspect/{project.team_id}/project/{project.project_id}/uploads"
    page = client.get(base, query_string={"status": "FAILED"})
    assert page.status_code == 200
    assert failed["id"] in page.text and partial["id"] not in page.text
    assert 'status=PARTIAL"' in page.text  # a filter of its own
    # scan.png is REVIEWING: the upload is IN_REVIEW until it is done, not PARTIAL yet.
    assert partial["id"] not in client.get(base, query_string={"status": "PARTIAL"}).text
    assert partial["id"] in client.get(base, query_string={"status": "IN_REVIEW"}).text
