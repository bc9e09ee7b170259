"""Fixtures of the app and live layers: an app on a fresh, migrated database (SQLite always;
PostgreSQL when TEST_DATABASE_URL points at one), a test client, demo data, a live gunicorn
server, webhook receivers. `tests/app/conftest.py` and `tests/live/conftest.py` take them; the
unit layer does not, so it never imports the app."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.demo import seed_demo
from sendai_server.store import migrate
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from sendai_server.web.context import engine_of
from tests.support.databases import (
    BACKENDS,
    GIVEN_POSTGRES_URL,
    POSTGRES_URL,
    create_database,
    drop_database,
    truncate_postgres,
)
from tests.support.helpers import LiveServer

# --- databases -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def sqlite_seeded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory,
                  ) -> tuple[Path, dict[str, Any]]:
    """The template with the `seed` fixture's demo data, made once, and its document: a test
    that takes `seed` on SQLite gets a copy of this file instead of seeding its own (seeding is
    a dozen transactions, about as long as the app's start)."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with UnitOfWork(engine) as uow:
        document = _seed_demo(uow)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path, document


# The demo document of each SQLite database copied from `sqlite_seeded`, by URL, until the test's
# `seed` takes it.
_SEEDED: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """TEST_DATABASE_URL's database, emptied and migrated once per test session; under
    pytest-xdist, the worker's own database (databases.py), made here and dropped at the end."""
    own = POSTGRES_URL != GIVEN_POSTGRES_URL
    try:
        if own:
            create_database(GIVEN_POSTGRES_URL, POSTGRES_URL)
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable PostgreSQL"
        pytest.fail(f"TEST_DATABASE_URL={GIVEN_POSTGRES_URL} cannot make {POSTGRES_URL}: {exc}",
                    pytrace=False)
    engine = make_engine(POSTGRES_URL)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    except Exception as exc:  # noqa: BLE001 - any failure here means "no usable PostgreSQL"
        pytest.fail(f"TEST_DATABASE_URL={POSTGRES_URL} is not usable: {exc}", pytrace=False)
    finally:
        engine.dispose()
    migrate.upgrade(POSTGRES_URL)
    yield POSTGRES_URL
    if own:
        drop_database(GIVEN_POSTGRES_URL, POSTGRES_URL)




@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "sendai.db"
        url = f"sqlite:///{path}"
        if "seed" in request.fixturenames:  # the file comes seeded (sqlite_seeded)
            seeded, document = request.getfixturevalue("sqlite_seeded")
            shutil.copyfile(seeded, path)
            _SEEDED[url] = copy.deepcopy(document)
        else:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return url
    url: str = request.getfixturevalue("postgres_database")
    truncate_postgres(url)
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


# --- the app ------------------------------------------------------------------------------------

@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    # Uploads up to 8 MiB per request here, so that the tests of what is over it stay small.
    return Config(env="test", database_url=database_url, test_helpers=True,
                  max_upload_bytes=8 * 1024 * 1024, storage_url=str(tmp_path / "files"),
                  pipeline_delay=0.0)


@pytest.fixture
def app(config: Config) -> Iterator[Flask]:
    app = create_app(config)
    yield app
    engine_of(app).dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def engine(app: Flask) -> Engine:
    return engine_of(app)  # type: ignore[no-any-return]


@pytest.fixture
def uow(engine: Engine) -> Iterator[UnitOfWork]:
    """A unit of work of the test's own, outside any request (as the CLI's and workers' are)."""
    with UnitOfWork(engine) as uow:
        yield uow


@pytest.fixture
def seed(database_url: str, uow: UnitOfWork) -> dict[str, Any]:
    """docs/cli.md's demo data: keys per role, tasks in every state, and another team; and, for
    the tests, `other_upload_id`: the other team's task's upload. On SQLite the test's file was
    copied with them in (`sqlite_seeded`: the same ids in every test, each in its own file);
    on PostgreSQL they are made here, in the emptied database."""
    document = _SEEDED.pop(database_url, None)
    return document if document is not None else _seed_demo(uow)


def _seed_demo(uow: UnitOfWork) -> dict[str, Any]:
    document = seed_demo(uow)
    with uow.read() as conn:
        document["other_upload_id"] = conn.execute(
            text("SELECT upload_id FROM task WHERE id = :t"),
            {"t": document["other"]["task_id"]},
        ).scalar_one()
    return document


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    """gunicorn with 4 workers on the test's database, over real HTTP."""
    server = LiveServer(database_url, workers=4)
    yield server
    server.stop()


# --- webhook receivers --------------------------------------------------------------------------

@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    """Receivers a test makes (sendai_server/testing/receiver.py), each closed when it ends."""
    made: list[Receiver] = []
    yield made
    for receiver in made:
        receiver.close()


@pytest.fixture
def receiver(receivers: list[Receiver]) -> Receiver:
    made = Receiver()
    receivers.append(made)
    return made
