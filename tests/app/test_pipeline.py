"""The simulated pipeline (docs/pipeline.md) in-process, on SQLite and PostgreSQL: uploads go
through the real job queue and the real steps, run here by `drain` (the worker's own claim and
handlers, one job at a time, until nothing is due)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.helpers import auth, count_rows
from tests.support.pipeline import Project, drain, without_ids


def test_an_invoice_becomes_a_reviewing_task_with_its_total(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    assert project.task(task_id)["status"] == "PROCESSING"
    assert drain(engine, config) == 1
    task = project.task(task_id)
    assert task["status"] == "REVIEWING"
    [page] = task["pages"]
    assert (page["width"], page["height"]) == (2480, 3508)
    totals = [a for a in page["annotations"] if a["entity_id"] == "total_amount"]
    assert [a["content"] for a in totals] == [documents.INVOICE_TOTAL]
    assert {"date", "invoice_number", "email", "iban"} <= {
        a["entity_id"] for a in page["annotations"]}
    last = project.events(task_id)[-1]
    assert (last["action"], last["from_status"], last["to_status"], last["key_id"]) == (
        "to_review", "PROCESSING", "REVIEWING", None)
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


def test_the_same_file_twice_gives_the_same_pages_with_other_ids(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    pdf = documents.invoice_pdf()
    [first] = project.upload((pdf, "a.pdf"))["taskIds"]
    [second] = project.upload((pdf, "b.pdf"))["taskIds"]
    drain(engine, config)
    one, two = project.task(first)["pages"], project.task(second)["pages"]
    assert without_ids(one) == without_ids(two)
    assert one[0]["id"] != two[0]["id"]


def test_two_pages_an_image_and_a_damaged_pdf(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    two, image, damaged = project.upload(
        (documents.two_page_pdf(), "two.pdf"), (documents.png((640, 480)), "scan.png"),
        (documents.damaged_pdf(), "broken.pdf"))["taskIds"]
    drain(engine, config)
    assert len(project.task(two)["pages"]) == 2
    picture = project.task(image)
    assert picture["status"] == "REVIEWING"
    assert [(p["width"], p["height"], p["annotations"]) for p in picture["pages"]] == [
        (640, 480, [])]
    failed = project.task(damaged)
    assert (failed["status"], failed["pages"]) == ("FAILED", [])
    event = project.events(damaged)[-1]
    assert event["action"] == "fail"
    assert event["details"].startswith("The PDF could not be read")
    assert "reason" not in event
    assert "details" not in project.events(two)[-1]
    upload = client.get(project.path(f"/upload/{project.task(two)['upload_id']}"),
                        headers=auth(project.key)).get_json()["payload"]
    assert upload["status"] == "IN_REVIEW"


@pytest.mark.parametrize("automation, threshold, status, annotated", [
    ("auto_process", 0.0, "COMPLETED", True),
    ("auto_process", 1.0, "REVIEWING", True),
    ("auto_predict", 0.0, "REVIEWING", True),
    ("none", 0.0, "REVIEWING", False),
])
def test_automation_levels(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    automation: str, threshold: float, status: str, annotated: bool,
) -> None:
    project = Project(client, uow, seed, automation=automation, threshold=threshold)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    task = project.task(task_id)
    assert task["status"] == status
    assert bool(task["pages"][0]["annotations"]) is annotated
    if status == "COMPLETED":
        upload = client.get(project.path(f"/upload/{task['upload_id']}"),
                            headers=auth(project.key)).get_json()["payload"]
        assert (upload["status"], upload["folder_id"]) == ("COMPLETED",
                                                           project.folders["Processed"])


def test_complete_is_followed_by_auto_complete(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    response = project.post(f"/task/{task_id}/complete")
    assert response.get_json()["payload"]["status"] == "PROCESSING"
    assert drain(engine, config) == 1
    assert project.task(task_id)["status"] == "COMPLETED"
    assert [e["action"] for e in project.events(task_id)] == [
        "create", "to_review", "complete", "auto_complete"]


def test_retry_extracts_again(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    pdf = documents.invoice_pdf()
    [task_id] = project.upload((pdf, "invoice.pdf"))["taskIds"]
    import hashlib

    digest = hashlib.sha256(pdf).hexdigest()
    project.post("/test_helpers/outcomes", json={"sha256": digest, "status": "FAILED"})
    drain(engine, config)
    assert project.task(task_id)["status"] == "FAILED"
    project.post("/test_helpers/outcomes", json={"sha256": digest, "status": "REVIEWING"})
    retried = project.post(f"/test_helpers/task/{task_id}/advance", json={"event": "retry"})
    assert retried.get_json()["payload"]["status"] == "PROCESSING"
    drain(engine, config)
    task = project.task(task_id)
    assert task["status"] == "REVIEWING" and task["pages"][0]["annotations"]


def test_a_registered_outcome_overrides_the_extraction(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    import hashlib

    project = Project(client, uow, seed, automation="auto_process", threshold=0.0)
    pdf = documents.invoice_pdf()
    pages = [{"width": 100, "height": 200, "annotations": [
        {"entity_id": "total_amount", "confidence": 0.5, "content": "9.99", "top": 1,
         "left_of_line": 2}]}]
    response = project.post("/test_helpers/outcomes", json={
        "sha256": hashlib.sha256(pdf).hexdigest(), "status": "FILTERED", "pages": pages})
    assert response.status_code == 201
    [task_id] = project.upload((pdf, "invoice.pdf"))["taskIds"]
    drain(engine, config)
    task = project.task(task_id)
    assert task["status"] == "FILTERED"
    assert [(p["width"], p["height"], [a["content"] for a in p["annotations"]])
            for p in task["pages"]] == [(100, 200, ["9.99"])]


def test_a_manual_pipeline_extracts_but_moves_nothing(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed, pipeline="manual")
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    drain(engine, config)
    task = project.task(task_id)
    assert task["status"] == "PROCESSING" and len(task["pages"]) == 1
    advanced = project.post(f"/test_helpers/task/{task_id}/advance", json={"event": "to_review"})
    assert advanced.get_json()["payload"]["status"] == "REVIEWING"
    project.post(f"/task/{task_id}/complete")
    assert drain(engine, config) == 0  # no auto_complete on a manual pipeline
    assert project.task(task_id)["status"] == "PROCESSING"


def test_a_stale_job_does_nothing_to_a_task_the_client_moved(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
    # While the extract job waits, the pipeline's other side moves the task and the client
    # discards it.
    project.post(f"/test_helpers/task/{task_id}/advance", json={"event": "to_review"})
    assert project.post(f"/task/{task_id}/discard").status_code == 200
    events_before = project.events(task_id)
    assert drain(engine, config) == 1
    task = project.task(task_id)
    assert (task["status"], task["pages"]) == ("DISCARDED", [])
    assert project.events(task_id) == events_before
    assert count_rows(engine, "SELECT count(*) FROM job") == 0


def test_meta_reaches_every_task_of_the_upload(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    response = client.post(
        project.path("/upload"),
        data={"file": [(io.BytesIO(documents.png()), "a.png")],
              "meta": json.dumps([{"name": "batch", "value": "7"}])},
        content_type="multipart/form-data", headers=auth(project.key))
    [task_id] = response.get_json()["taskIds"]
    drain(engine, config)
    assert project.task(task_id)["meta"] == [{"name": "batch", "value": "7"}]
