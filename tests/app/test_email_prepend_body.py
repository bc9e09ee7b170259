"""A project's `email_prepend_body` (docs/project-settings.md) on SQLite and PostgreSQL: on, each
attachment task of an email gets the body's text, extracted as an email body task's page is, as
its first page, then the attachment's own pages; off, nothing changes; with `email_body`
`always` and `without_attachments`; set by the CLI; the stored body goes with its upload."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.domain import emails
from sendai_server.pipeline.extraction import extract
from sendai_server.services import snapshots
from sendai_server.services.keys import create_key
from sendai_server.services.projects import project_settings
from sendai_server.store.storage import storage_from_url
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.cli import run
from tests.support.emails import PDFS, email_with
from tests.support.helpers import auth
from tests.support.pipeline import Project, drain, without_ids

RAW = email_with(*PDFS)


def body_page() -> dict[str, Any]:
    """The body's text as a TEXT document's one page, computed here from the message."""
    body = emails.documents_of("mail.eml", io.BytesIO(RAW), 1 << 30)[0]
    assert body.kind == emails.TEXT and b"Total: 99.50 EUR" in body.content
    extracted = extract(io.BytesIO(body.content), "text",
                        hashlib.sha256(body.content).hexdigest())
    [page] = extracted.pages
    return page


def pdf_pages(content: bytes) -> list[dict[str, Any]]:
    return extract(io.BytesIO(content), "pdf", hashlib.sha256(content).hexdigest()).pages


def pages_of(project: Project, task_id: str) -> list[dict[str, Any]]:
    task = project.task(task_id)
    assert task["status"] == "REVIEWING", task
    return without_ids(task["pages"])


@pytest.mark.parametrize("email_body", ["always", "without_attachments"])
def test_on_each_attachment_task_starts_with_the_bodys_page_then_its_own(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    email_body: str,
) -> None:
    project = Project(client, uow, seed, email_body=email_body, email_prepend_body=True)
    task_ids = project.upload((RAW, "mail.eml"))["taskIds"]
    assert drain(engine, config) == len(task_ids)
    *body, first, second = task_ids
    expected = without_ids([body_page()])
    assert expected[0]["annotations"], "the body's fields are found on the prepended page"
    assert pages_of(project, first) == expected + without_ids(pdf_pages(PDFS[0][2]))
    assert pages_of(project, second) == expected + without_ids(pdf_pages(PDFS[1][2]))
    assert len(project.task(second)["pages"]) == 3
    if email_body == "always":  # the body's own task is as it was: its one page
        assert pages_of(project, body[0]) == expected
    else:
        assert body == []


@pytest.mark.parametrize("email_body", ["always", "without_attachments"])
def test_off_nothing_changes(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    email_body: str,
) -> None:
    project = Project(client, uow, seed, email_body=email_body)
    with engine.connect() as conn:
        assert project_settings(conn, project.project_id).email_prepend_body is False
    *_, first, second = project.upload((RAW, "mail.eml"))["taskIds"]
    drain(engine, config)
    assert pages_of(project, first) == without_ids(pdf_pages(PDFS[0][2]))
    assert pages_of(project, second) == without_ids(pdf_pages(PDFS[1][2]))


def test_a_file_that_is_no_email_and_an_email_without_attachments_are_as_before(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed, email_prepend_body=True)
    pdf, body = project.upload((documents.invoice_pdf(), "i.pdf"),
                               (email_with(), "alone.eml"))["taskIds"]
    drain(engine, config)
    assert pages_of(project, pdf) == without_ids(pdf_pages(documents.invoice_pdf()))
    assert len(pages_of(project, body)) == 1


def test_the_stored_body_goes_when_its_upload_is_deleted(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed, email_body="without_attachments",
                      email_prepend_body=True)
    upload = project.upload((RAW, "mail.eml"))
    stored = Path(config.storage_url)
    assert len([p for p in stored.rglob("*") if p.is_file()]) == 3  # the body, 2 PDFs
    key = create_key(uow, project.team_id, ["upload.delete"], [project.project_id]).key
    gone = client.delete(project.path(f"/upload/{upload['id']}"), headers=auth(key))
    assert gone.status_code == 200, gone.get_json()
    assert not [p for p in stored.rglob("*") if p.is_file()]


def test_the_cli_turns_it_on_and_off(database_url: str, seed: dict[str, Any]) -> None:
    made = run(database_url, "projects", "create", "--team", seed["team_id"],
               "--email-prepend-body", "--json")
    assert made.exit_code == 0, made.output
    project_id = json.loads(made.output)["project_id"]
    kept = run(database_url, "projects", "update", project_id, "--api-import", "on", "--json")
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["email_prepend_body"] is True
    off = run(database_url, "projects", "update", project_id, "--no-email-prepend-body",
              "--json")
    assert json.loads(off.output)["email_prepend_body"] is False


def test_a_snapshot_keeps_the_body_a_processing_task_will_prepend(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    """The body of an email without a body task is a file only the attachments name: a
    snapshot keeps it, so that after the upload is deleted and the snapshot restored, the
    restored tasks (still PROCESSING) are extracted with it."""
    project = Project(client, uow, seed, email_body="without_attachments",
                      email_prepend_body=True)
    upload = project.upload((RAW, "mail.eml"))
    storage = storage_from_url(config.storage_url)
    snap = snapshots.create_snapshot(uow, project.team_id)
    key = create_key(uow, project.team_id, ["upload.delete"], [project.project_id]).key
    gone = client.delete(project.path(f"/upload/{upload['id']}"), headers=auth(key))
    assert gone.status_code == 200, gone.get_json()
    snapshots.restore_snapshot(uow, storage, project.team_id, snap["id"])
    assert drain(engine, config) == 2
    first, second = upload["taskIds"]
    assert pages_of(project, first)[0] == without_ids([body_page()])[0]
    assert len(pages_of(project, second)) == 3
    snapshots.delete_snapshot(uow, storage, project.team_id, snap["id"])
    snapshots.reset_state(uow, storage, project.team_id)
    assert not [p for p in Path(config.storage_url).rglob("*") if p.is_file()]
