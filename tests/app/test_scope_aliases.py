"""`sendai-server keys create --scope ALIAS` (docs/api/index.md): Send AI's import-guide spellings
are stored under the canonical scope names, and the key works with them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.cli import main
from tests.support.helpers import auth, task_path


def keys_create(app: Flask, seed: dict[str, Any], *scopes: str) -> Any:
    args = ["keys", "create", "--team", seed["team_id"], "--project", seed["project_id"],
            "--json"]
    for scope in scopes:
        args += ["--scope", scope]
    with app.app_context():
        return CliRunner().invoke(main, args)


@pytest.mark.parametrize("alias, canonical", [
    ("tasks.view", "task.read"), ("tasks.edit", "task.edit"), ("uploads.view", "upload.read"),
    ("uploads.create", "upload.create"), ("uploads.edit", "upload.edit"),
])
def test_alias_is_stored_as_the_canonical_scope(
    app: Flask, seed: dict[str, Any], engine: Engine, alias: str, canonical: str
) -> None:
    result = keys_create(app, seed, alias)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["scopes"] == [canonical]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT scopes FROM api_key WHERE id = :k"),
                              {"k": document["id"]}).scalar_one()
    assert (json.loads(stored) if isinstance(stored, str) else stored) == [canonical]


def test_key_made_with_aliases_can_read_and_discard(
    app: Flask, client: FlaskClient, seed: dict[str, Any]
) -> None:
    result = keys_create(app, seed, "tasks.edit", "tasks.view", "task.read")
    document = json.loads(result.stdout)
    assert document["scopes"] == ["task.edit", "task.read"]
    task_id = seed["tasks"]["REVIEWING"][0]
    assert client.get(task_path(seed, task_id), headers=auth(document["key"])).status_code == 200
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(document["key"]))
    assert response.status_code == 200


def test_unknown_scope_is_refused_with_a_message(app: Flask, seed: dict[str, Any]) -> None:
    result = keys_create(app, seed, "tasks.delete")
    assert result.exit_code == 1
    assert "Unknown scope 'tasks.delete'" in result.output
