"""Email uploads (docs/api/uploads.md) on SQLite and PostgreSQL: a message built here with the
`email` package becomes a body task and one task per accepted attachment, in order; the others are
named in the body task's meta; the 40 MiB limit holds per document; a malformed message ends
FAILED with `details`, like a damaged PDF."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.uploads import MAX_FILE_BYTES
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support import documents
from tests.support.emails import PDFS, email_with
from tests.support.helpers import auth, count_rows
from tests.support.pipeline import Project, drain

DOCX = b"PK\x03\x04" + b"\x00" * 64  # a Word file's first bytes: no accepted type


def file_of(project: Project, upload_id: str, index: int) -> Any:
    return project.client.get(project.path(f"/upload/{upload_id}/files/{index}"),
                              headers=auth(project.key))


def test_an_email_becomes_a_body_task_and_one_task_per_accepted_attachment_in_order(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed)
    raw = email_with(PDFS[0], ("notes.docx", "application/octet-stream", DOCX), PDFS[1])
    upload = project.upload((raw, "december.eml"))
    body, first, second = upload["taskIds"]
    assert upload["fileType"] == "text"
    tasks = [project.task(t) for t in upload["taskIds"]]
    assert [t["name"] for t in tasks] == ["december.eml", "a.pdf", "b.pdf"]
    assert tasks[0]["meta"] == [{"name": "skipped_attachment", "value": "notes.docx"}]
    assert tasks[1]["meta"] == [] and tasks[2]["meta"] == []
    text = file_of(project, upload["id"], 0)
    assert text.content_type == "text/plain; charset=utf-8"
    assert "Total: 99.50 EUR" in text.get_data(as_text=True)
    assert file_of(project, upload["id"], 1).data == documents.invoice_pdf()
    assert file_of(project, upload["id"], 2).data == documents.two_page_pdf()
    got = client.get(project.path(f"/upload/{upload['id']}"), headers=auth(project.key))
    assert [f["index"] for f in (got.get_json()["payload"]["files"][t]
                                 for t in (body, first, second))] == [0, 1, 2]

    drain(engine, config)
    extracted = project.task(body)
    assert extracted["status"] == "REVIEWING"
    [page] = extracted["pages"]
    assert (page["width"], page["height"]) == (2480, 3508)
    found = {a["entity_id"]: a["content"] for a in page["annotations"]}
    assert found == {"invoice_number": "MAIL-2024-7", "date": "03.12.2024",
                     "total_amount": "99.50 EUR", "email": "billing@sender.example"}
    assert all(0.5 <= a["confidence"] < 1 and 0 < a["top"] < 3508
               for a in page["annotations"])
    assert len(project.task(first)["pages"]) == 1 and len(project.task(second)["pages"]) == 2


def test_the_upload_meta_goes_to_every_task_and_the_body_adds_its_skipped_attachments(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    project = Project(client, uow, seed)
    raw = email_with(("notes.docx", "application/octet-stream", DOCX), PDFS[0],
                     ("readme.txt", "text/plain", b"hello"))
    response = client.post(project.path("/upload"), data={
        "file": [(io.BytesIO(raw), "mail.eml"), (io.BytesIO(documents.png((8, 8))), "x.png")],
        "meta": '[{"name": "source", "value": "mailbox"}]'},
        content_type="multipart/form-data", headers=auth(project.key))
    assert response.status_code == 200, response.get_json()
    body, pdf, png = (project.task(t) for t in response.get_json()["taskIds"])
    assert body["meta"] == [{"name": "source", "value": "mailbox"},
                            {"name": "skipped_attachment", "value": "notes.docx"},
                            {"name": "skipped_attachment", "value": "readme.txt"}]
    assert pdf["meta"] == png["meta"] == [{"name": "source", "value": "mailbox"}]
    assert (pdf["name"], png["name"]) == ("a.pdf", "x.png")


@pytest.fixture
def roomy_app(config: Config) -> Iterator[Flask]:
    """The test's app, taking requests of up to 80 MiB: room for an attachment over 40 MiB."""
    app = create_app(config.with_overrides(max_upload_bytes=80 * 1024 * 1024))
    yield app
    engine_of(app).dispose()


@pytest.mark.slow  # a 40 MiB email built, sent and parsed: about 10 s
def test_an_attachment_over_40_mib_refuses_the_email_and_keeps_nothing(
    roomy_app: Flask, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(roomy_app.test_client(), uow, seed)
    before = [count_rows(engine, f"SELECT count(*) FROM {t}")
              for t in ("upload", "upload_file", "task")]
    big = b"%PDF-1.4\n" + b"0" * (MAX_FILE_BYTES + 1)
    raw = email_with(*PDFS, ("huge.pdf", "application/pdf", big))
    response = project.client.post(
        project.path("/upload"), data={"file": [(io.BytesIO(raw), "big.eml")]},
        content_type="multipart/form-data", headers=auth(project.key))
    assert response.status_code == 413, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["details"]) == ("payload_too_large", {
        "file": "huge.pdf", "email": "big.eml", "limit_bytes": 41943040})
    assert [count_rows(engine, f"SELECT count(*) FROM {t}")
            for t in ("upload", "upload_file", "task")] == before
    stored = Path(config.storage_url)
    assert not stored.exists() or not [p for p in stored.rglob("*") if p.is_file()]
    # Without it, the same email is taken.
    accepted = project.client.post(
        project.path("/upload"), data={"file": [(io.BytesIO(email_with(*PDFS)), "ok.eml")]},
        content_type="multipart/form-data", headers=auth(project.key))
    assert accepted.status_code == 200 and len(accepted.get_json()["taskIds"]) == 3


MALFORMED = (b"From: billing@sender.example\r\nTo: inbox@receiver.example\r\n"
             b"Subject: cut off\r\nMIME-Version: 1.0\r\n"
             b'Content-Type: multipart/mixed; boundary="never-seen"\r\n\r\n'
             b"The parts this message announces never come.\r\n")


def test_a_malformed_email_is_accepted_and_its_task_ends_failed_with_details(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
) -> None:
    project = Project(client, uow, seed, automation="auto_process")
    upload = project.upload((MALFORMED, "broken.eml"))
    [task_id] = upload["taskIds"]
    assert upload["fileType"] == "email"
    original = file_of(project, upload["id"], 0)
    assert (original.content_type, original.data) == ("message/rfc822", MALFORMED)
    drain(engine, config)
    task = project.task(task_id)
    assert (task["status"], task["pages"]) == ("FAILED", [])
    event = project.events(task_id)[-1]
    assert event["action"] == "fail"
    assert event["details"].startswith("The email could not be read: ")
    assert "boundary" in event["details"]


@pytest.mark.parametrize("content", [
    b"Note: this is a plain text file\nwith lines.\n",
    b"Subject only: not enough\n\nbody\n",
    b"not a header line at all\nFrom: x@y.example\nTo: z@y.example\n",
])
def test_text_that_is_not_an_email_is_refused(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], content: bytes,
) -> None:
    project = Project(client, uow, seed)
    response = client.post(project.path("/upload"),
                           data={"file": [(io.BytesIO(content), "note.eml")]},
                           content_type="multipart/form-data", headers=auth(project.key))
    assert response.status_code == 400
    assert "not a PDF, PNG, JPEG, TIFF or email" in response.get_json()["error"]["message"]


def test_a_malformed_email_over_40_mib_is_refused_whole(
    roomy_app: Flask, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    """Kept whole (it cannot be split), it is one document: the limit holds for it."""
    project = Project(roomy_app.test_client(), uow, seed)
    raw = MALFORMED + b"x" * MAX_FILE_BYTES
    response = project.client.post(
        project.path("/upload"), data={"file": [(io.BytesIO(raw), "huge.eml")]},
        content_type="multipart/form-data", headers=auth(project.key))
    assert response.status_code == 413, response.get_json()
    assert response.get_json()["error"]["details"]["file"] == "huge.eml"
