"""The app layer's fixtures keep each test to itself (tests/support/fixtures.py): a database of
its own, copied from a template (seeded once per session when the test takes `seed`) on SQLite,
emptied on PostgreSQL; files of its own; an app of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.services.projects import create_team
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import count_rows

# The app of each turn below (kept, so that no later app can take its id): the next turn's must
# be another.
_APPS: list[Flask] = []


@pytest.mark.parametrize("turn", [1, 2, 3])
def test_a_row_written_in_one_test_is_absent_in_the_next(
    turn: int, seed: dict[str, Any], uow: UnitOfWork, engine: Engine, app: Flask,
    config: Config,
) -> None:
    """Whichever turn runs after another (on one process or not) finds only the seed: the
    teams, keys and tasks the earlier turns added are not there."""
    assert count_rows(engine, "SELECT count(*) FROM team") == 2
    assert count_rows(engine, "SELECT count(*) FROM team WHERE name LIKE 'turn %'") == 0
    assert count_rows(engine, "SELECT count(*) FROM api_key") == 5
    assert all(app is not earlier for earlier in _APPS)
    _APPS.append(app)
    create_team(uow, f"turn {turn}")
    assert count_rows(engine, "SELECT count(*) FROM team") == 3
    files = Path(config.storage_url)
    assert not files.exists() or not any(files.iterdir())
    files.mkdir(parents=True, exist_ok=True)
    (files / f"turn-{turn}").write_text("left behind")


def test_the_seed_is_the_tests_own_and_its_keys_work(
    seed: dict[str, Any], client: FlaskClient
) -> None:
    """The document is a copy each test may change; its keys are the database's."""
    seed["keys"].clear()
    answer = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task",
                        headers={"Authorization": f"Bearer {seed['other']['key']}"})
    assert answer.status_code == 404  # the other team's key sees nothing of this team


def test_after_a_test_that_emptied_its_seed_document_the_next_has_it_whole(
    seed: dict[str, Any], client: FlaskClient
) -> None:
    assert set(seed["keys"]) == {"edit", "read", "helpers", "revoked"}
    answer = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task",
                        headers={"Authorization": f"Bearer {seed['keys']['read']}"})
    assert answer.status_code == 200, answer.get_json()
