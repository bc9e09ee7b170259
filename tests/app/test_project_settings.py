"""The projects' import settings (docs/project-settings.md) on SQLite and PostgreSQL:
`api_import` and `email_body`, through the services and the CLI."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.domain.errors import ValidationError
from sendai_server.services.projects import create_project, project_settings, update_project
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.cli import run
from tests.support.emails import PDFS, email_with
from tests.support.helpers import auth, count_rows
from tests.support.pipeline import Project, drain


def test_api_import_off_refuses_an_upload_with_403_and_keeps_nothing(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, tmp_path: Any,
) -> None:
    project = Project(client, uow, seed, api_import=False)
    before = [count_rows(engine, f"SELECT count(*) FROM {table}")
              for table in ("upload", "task", "upload_file", "job")]

    for path in (project.path("/upload"), f"/v2/{seed['team_id']}/upload"):
        response = client.post(
            path, data={"file": (io.BytesIO(documents.invoice_pdf()), "i.pdf"),
                        "projectId": project.project_id},
            content_type="multipart/form-data", headers=auth(project.key))
        assert response.status_code == 403, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "forbidden"
        assert "import via api is off" in error["message"].lower()
    assert [count_rows(engine, f"SELECT count(*) FROM {table}")
            for table in ("upload", "task", "upload_file", "job")] == before
    stored = list((tmp_path / "files").rglob("*")) if (tmp_path / "files").exists() else []
    assert not [p for p in stored if p.is_file()]


def test_the_cli_sets_api_import_and_email_body(
    database_url: str, client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    made = run(database_url, "projects", "create", "--team", seed["team_id"],
               "--api-import", "off", "--email-body", "without_attachments", "--json")
    assert made.exit_code == 0, made.output
    project_id = json.loads(made.output)["project_id"]
    updated = run(database_url, "projects", "update", project_id, "--api-import", "on", "--json")
    assert updated.exit_code == 0, updated.output
    settings = json.loads(updated.output)
    assert (settings["api_import"], settings["email_body"]) == (True, "without_attachments")
    back = run(database_url, "projects", "update", project_id, "--email-body", "profile",
               "--json")
    assert json.loads(back.output)["email_body"] is None
    bad = run(database_url, "projects", "update", project_id, "--email-body", "never")
    assert bad.exit_code != 0


def test_the_projects_email_body_makes_no_body_task_beside_attachments(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    project = Project(client, uow, seed, email_body="without_attachments")
    created = project.upload((email_with(*PDFS), "mail.eml"))
    assert [project.task(t)["name"] for t in created["taskIds"]] == ["a.pdf", "b.pdf"]


# --- email_senders ------------------------------------------------------------------------------

@pytest.mark.parametrize("senders", [(), ("billing@sender.example",), ("@SENDER.example",),
                                     ("*@sender.example", "@other.example")])
def test_a_sender_on_the_list_is_let_in(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], senders: tuple[str, ...],
) -> None:
    project = Project(client, uow, seed, email_senders=senders)
    assert len(project.upload((email_with(*PDFS), "mail.eml"))["taskIds"]) == 3


@pytest.mark.parametrize("senders", [("someone@sender.example",), ("@other.example",)])
def test_a_sender_off_the_list_fails_the_upload_naming_the_sender(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    senders: tuple[str, ...],
) -> None:
    project = Project(client, uow, seed, email_senders=senders)
    created = project.upload((email_with(*PDFS), "mail.eml"))
    [task_id] = created["taskIds"]
    drain(engine, config)
    assert project.task(task_id)["status"] == "FAILED"
    failed = project.events(task_id)[-1]
    assert failed["action"] == "fail"
    assert "billing@sender.example" in failed["details"]
    upload = client.get(project.path(f"/upload/{created['id']}"), headers=auth(project.key))
    assert upload.get_json()["payload"]["status"] == "FAILED"


def test_a_malformed_sender_pattern_is_400_naming_the_field_and_changes_nothing(
    database_url: str, uow: UnitOfWork, seed: dict[str, Any], engine: Engine,
) -> None:
    project_id, _ = create_project(uow, seed["team_id"], "Mail")
    with pytest.raises(ValidationError) as refused:
        update_project(uow, project_id, email_senders=("@ok.example", "not a pattern"))
    assert refused.value.details == {"fields": {"email_senders": [
        "'not a pattern' is not user@example.com, @example.com or *@example.com"]}}
    made = run(database_url, "projects", "update", project_id, "--email-sender", "nope")
    assert made.exit_code != 0 and "email_senders" in made.output
    with uow.read() as conn:
        assert project_settings(conn, project_id).email_senders == ()
    cleared = run(database_url, "projects", "update", project_id,
                  "--email-sender", "@a.example", "--email-sender", "b@c.example", "--json")
    assert json.loads(cleared.output)["email_senders"] == ["@a.example", "b@c.example"]
    anyone = run(database_url, "projects", "update", project_id, "--any-sender", "--json")
    assert json.loads(anyone.output)["email_senders"] == []
