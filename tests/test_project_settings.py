"""The projects' import settings (docs/project-settings.md) on SQLite and PostgreSQL:
`api_import` and `email_body`, through the services and the CLI."""

from __future__ import annotations

import io
import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.uow import UnitOfWork
from tests import documents
from tests.helpers import auth, count_rows
from tests.test_cli import run
from tests.test_email_uploads import PDFS, email_with
from tests.test_pipeline import Project


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
