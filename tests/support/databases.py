"""The test databases: SQLite always, PostgreSQL when TEST_DATABASE_URL points at one."""

from __future__ import annotations

import os

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
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
