"""The inspector's snapshots page (docs/snapshots.md): the team's snapshots for a key with the
`test_helpers` scope, and a Restore button that needs the session's CSRF token."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.support.helpers import auth
from tests.support.inspector import csrf, sign_in


def task_page(seed: dict[str, Any], rest: str = "") -> str:
    return f"/inspect/{seed['team_id']}/project/{seed['project_id']}/snapshots{rest}"


def _tasks(engine: Engine, seed: dict[str, Any]) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM task WHERE project_id = :p"),
                               {"p": seed["project_id"]}) or 0)


def test_the_page_lists_snapshots_and_restores_one_with_its_csrf_token(
    client: FlaskClient, engine: Engine, seed: dict[str, Any],
) -> None:
    helpers = auth(seed["keys"]["helpers"])
    snap = client.post(f"/v2/{seed['team_id']}/test_helpers/snapshots", json={"name": "clean"},
                       headers=helpers).get_json()["payload"]
    before = _tasks(engine, seed)
    client.post(f"/v2/{seed['team_id']}/project/{seed['project_id']}/test_helpers/task",
                json={}, headers=helpers)
    assert _tasks(engine, seed) == before + 1

    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    tasks = client.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks")
    assert f'href="{task_page(seed)}"' in tasks.text
    page = client.get(task_page(seed))
    assert page.status_code == 200
    assert f'data-snapshot-id="{snap["id"]}"' in page.text and "clean" in page.text

    restore = task_page(seed, f"/{snap['id']}/restore")
    refused = client.post(restore, data={"csrf_token": "forged"})
    assert refused.status_code == 403  # the CSRF check refuses it
    assert _tasks(engine, seed) == before + 1
    answer = client.post(restore, data={"csrf_token": csrf(page.text)})
    assert answer.status_code == 303
    assert _tasks(engine, seed) == before


def test_the_page_needs_the_test_helpers_scope(client: FlaskClient, seed: dict[str, Any]
                                               ) -> None:
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    tasks = client.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks")
    assert "/snapshots" not in tasks.text
    assert client.get(task_page(seed)).status_code == 403
