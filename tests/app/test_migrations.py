"""The models and the Alembic migrations agree, and the migrations run both ways."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from sendai_server.store import migrate
from sendai_server.store.db import make_engine
from sendai_server.store.models import Base
from tests.support.helpers import REPO_ROOT


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_autogenerate_finds_nothing_between_models_and_migrations(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_round_trips(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.downgrade(database_url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(database_url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert {"task", "task_event", "api_key", "page"} <= set(inspect(engine).get_table_names())
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_alembic_upgrade_head_works_from_the_repo_root(tmp_path: object) -> None:
    url = f"sqlite:///{tmp_path}/alembic.db"
    env = {**os.environ, "DATABASE_URL": url}
    alembic = os.path.join(os.path.dirname(sys.executable), "alembic")
    subprocess.run([alembic, "upgrade", "head"], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True)
    current = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "sendai-server"), "db", "current"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True,
    )
    assert current.stdout.strip() == f"{migrate.head_revision()} (head)"


def test_database_enforces_status_values_and_foreign_keys(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO task (id, project_id, name, created_at, status, step_type, approved) "
            "VALUES ('task_x', 'proj_missing', 'n', CURRENT_TIMESTAMP, 'REVIEWING', 'EXTRACT', "
            "false)"
        ))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("INSERT INTO team (id, name, created_at) VALUES "
                          "('team_x', 't', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO project (id, team_id, name, created_at) VALUES "
                          "('proj_x', 'team_x', 'p', CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO task (id, project_id, name, created_at, status, step_type, approved) "
            "VALUES ('task_x', 'proj_x', 'n', CURRENT_TIMESTAMP, 'BOGUS', 'EXTRACT', false)"
        ))
