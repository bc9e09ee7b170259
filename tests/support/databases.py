"""The test databases: SQLite always, PostgreSQL when TEST_DATABASE_URL points at one.

Under pytest-xdist (`make test-quick` runs the unit and app layers on two processes) each
worker has a PostgreSQL database of its own: TEST_DATABASE_URL's name with the worker's id
(`sendai_me_gw0`), made by the session's first test and dropped by its end (fixtures.py's
`postgres_database`). A SQLite file is always the test's own (its tmp_path).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

GIVEN_POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... under pytest-xdist


def worker_database_url(url: str, worker: str) -> str:
    """`url` with its database named for an xdist worker (`.../sendai_me` -> `.../sendai_me_gw0`);
    `url` itself outside xdist."""
    if not url or not worker:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}_{worker}"))


POSTGRES_URL = worker_database_url(GIVEN_POSTGRES_URL, XDIST_WORKER)
REQUIRE_POSTGRES = os.environ.get("SENDAI_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


def truncate_postgres(url: str) -> None:
    """Every table emptied but server_secret: its one row is the migration's (0005), as on any
    migrated database."""
    from sendai_server.store.db import make_engine
    from sendai_server.store.models import Base

    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables
                       if t.name != "server_secret")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


TERMINATE_OTHERS = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


def terminate_other_connections(database_url: str) -> int:
    """Ends every other connection to this PostgreSQL database (as an outage would); how many."""
    from sqlalchemy import text

    from sendai_server.store.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(TERMINATE_OTHERS)).scalar_one())
    finally:
        engine.dispose()


def create_database(given_url: str, url: str) -> None:
    """Makes `url`'s database anew (one of its name left by an earlier run is dropped) from
    `given_url`'s, which exists (TEST_DATABASE_URL's)."""
    _run_on(given_url, f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)',
            f'CREATE DATABASE "{_name(url)}"')


def drop_database(given_url: str, url: str) -> None:
    _run_on(given_url, f'DROP DATABASE IF EXISTS "{_name(url)}" WITH (FORCE)')


def _name(url: str) -> str:
    from sqlalchemy import make_url

    return str(make_url(url).database)


def _run_on(url: str, *statements: str) -> None:
    from sendai_server.store.db import make_engine

    engine = make_engine(url)  # PostgreSQL's engines are in autocommit (store/db.py)
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()
