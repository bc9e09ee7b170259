"""Text no database stores (a NUL) is refused the same way on SQLite and PostgreSQL: 400
`validation_error` naming the field, nothing kept (no row, no stored file). Once a multipart
file name holding a NUL was stored on SQLite and a 500 on PostgreSQL (issue 31, item 1).

Every multipart operation of /openapi.json gets each hostile name; the names an email brings
(its attachments', kept or skipped) and the JSON bodies of the connector and fault helpers too.
"""

from __future__ import annotations

import io
import json
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.services.keys import SCOPES, create_key
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.api_spec import Operation, operations
from tests.support.helpers import auth, count_rows
from tests.support.hostile import UNSTORABLE_NAMES, assert_json_error

TABLES = ("upload", "upload_file", "task", "task_event", "job", "connector", "fault")


@pytest.fixture
def key(uow: UnitOfWork, seed: dict[str, Any]) -> str:
    return create_key(uow, seed["team_id"], list(SCOPES), [seed["project_id"]]).key


def rows(engine: Engine) -> dict[str, int]:
    return {table: count_rows(engine, f"SELECT count(*) FROM {table}") for table in TABLES}


def stored_files(config_storage: str) -> list[str]:
    root = Path(config_storage)
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def multipart_operations(spec: dict[str, Any]) -> list[Operation]:
    return [op for op in operations(spec)
            if "multipart/form-data" in op.doc.get("requestBody", {}).get("content", {})]


def upload_to(client: FlaskClient, op: Operation, seed: dict[str, Any], key: str,
              files: list[tuple[bytes, str]], **form: str) -> Any:
    url = op.url(team_id=seed["team_id"], project_id=seed["project_id"])
    data: dict[str, Any] = {"file": [(io.BytesIO(body), name) for body, name in files],
                            "projectId": seed["project_id"], **form}
    return client.post(url, data=data, content_type="multipart/form-data", headers=auth(key))


def assert_refused(response: Any, field: str) -> dict[str, Any]:
    error = assert_json_error(response.status_code, response.content_type, response.data,
                              response.get_json())
    assert (response.status_code, error["code"]) == (400, "validation_error"), error
    assert field in error["details"]["fields"], error
    return error


def email_with(subject: str, *attachments: tuple[str, str, bytes]) -> bytes:
    message = EmailMessage()
    message["From"] = "billing@sender.example"
    message["Subject"] = subject
    message.set_content("Invoice No. 7\nTotal: 9.50 EUR\n")
    for filename, mime, content in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


@pytest.mark.parametrize("name", UNSTORABLE_NAMES.values(), ids=UNSTORABLE_NAMES.keys())
def test_a_file_name_holding_nul_is_400_on_every_upload_operation_and_nothing_is_kept(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
    name: str,
) -> None:
    spec = client.get("/openapi.json").get_json()
    uploads = multipart_operations(spec)
    assert len(uploads) == 3, [str(op) for op in uploads]  # Send AI's three paths
    before = rows(engine)
    for op in uploads:
        response = upload_to(client, op, seed, key,
                             [(documents.invoice_pdf(), "fine.pdf"),
                              (documents.png(), name)])
        error = assert_refused(response, "file")
        assert "\\x00" in error["message"], error  # the name, shown so a person can see it
    assert rows(engine) == before
    assert stored_files(config.storage_url) == []


@pytest.mark.parametrize("field", ["name", "meta", "projectId"])
def test_a_form_field_holding_nul_is_400_naming_it(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
    field: str,
) -> None:
    spec = client.get("/openapi.json").get_json()
    before = rows(engine)
    value = {"name": "a\x00b", "projectId": seed["project_id"] + "\x00",
             "meta": json.dumps([{"name": "k", "value": "a\x00b"}])}[field]
    for op in multipart_operations(spec):
        response = upload_to(client, op, seed, key, [(documents.invoice_pdf(), "a.pdf")],
                             **{field: value})
        assert_refused(response, field)
    assert rows(engine) == before
    assert stored_files(config.storage_url) == []


@pytest.mark.parametrize("attachment", [
    ("a\x00b.pdf", "application/pdf", documents.invoice_pdf()),  # kept: its task's name
    ("a\x00b.docx", "application/octet-stream", b"PK\x03\x04" + b"\x00" * 64),  # skipped: meta
], ids=["kept_attachment", "skipped_attachment"])
def test_an_email_attachment_name_holding_nul_is_400_and_nothing_is_kept(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, config: Any,
    attachment: tuple[str, str, bytes],
) -> None:
    spec = client.get("/openapi.json").get_json()
    before = rows(engine)
    eml = email_with("Invoices", attachment)
    [op, *_] = multipart_operations(spec)
    response = upload_to(client, op, seed, key, [(eml, "mail.eml")])
    error = assert_refused(response, "file")
    assert "attachment" in error["message"].lower() or "\\x00" in error["message"], error
    assert rows(engine) == before
    assert stored_files(config.storage_url) == []


@pytest.mark.parametrize("path,body,field", [
    ("/project/{project_id}/test_helpers/connectors",
     {"url": "http://127.0.0.1:9/x", "name": "a\x00b"}, "name"),
    ("/project/{project_id}/test_helpers/connectors",
     {"url": "http://127.0.0.1:9/x", "headers": {"X-A": "a\x00b"}}, "headers"),
    ("/test_helpers/faults", {"match": {"path": "/project/\x00/**"}, "effect": {"status": 503}},
     "match"),
    ("/project/{project_id}/test_helpers/task", {"name": "a\x00b"}, "name"),
], ids=["connector_name", "connector_header", "fault_path", "helper_task_name"])
def test_json_text_holding_nul_is_400_naming_the_field(
    client: FlaskClient, seed: dict[str, Any], key: str, engine: Engine, path: str,
    body: dict[str, Any], field: str,
) -> None:
    before = rows(engine)
    url = f"/v2/{seed['team_id']}" + path.format(project_id=seed["project_id"])
    response = client.post(url, json=body, headers=auth(key))
    assert_refused(response, field)
    assert rows(engine) == before
