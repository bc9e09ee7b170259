"""Engine, sessions and the SQLite settings that make it safe under several workers.

SQLite: WAL so readers never block the writer, a busy timeout so a second writer waits
instead of failing, foreign keys on, and write transactions opened with BEGIN IMMEDIATE so two
workers can never both read a task and then both change it. PostgreSQL: row locks
(SELECT ... FOR UPDATE) give the same guarantee; see services/tasks.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "sendai_write"


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _make_sqlite_engine(database_url, **kwargs)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _make_sqlite_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from pysqlite so that BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: the view serializes what the service returned
    # without a second round of SELECTs.
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def begin_write(session: Session) -> None:
    """Open the session's transaction as a write transaction.

    Call first thing in a service that changes data. On SQLite this takes the database's
    write lock up front (BEGIN IMMEDIATE); elsewhere it is an ordinary BEGIN. A transaction
    already open would be upgraded from read to write mid-way, which SQLite may refuse under
    load: end it (commit or rollback) before calling this.
    """
    if session.in_transaction():
        raise RuntimeError("begin_write() needs a session with no transaction open")
    session.connection(execution_options={_WRITE_OPTION: True})


@contextmanager
def write_connection(engine: Engine) -> Iterator[Any]:
    """A short write transaction outside any session (used for bookkeeping writes)."""
    with engine.connect() as conn:
        conn = conn.execution_options(**{_WRITE_OPTION: True})
        with conn.begin():
            yield conn


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# --- Flask integration: one session per request, closed when the request ends. -------------

def init_app(app: Any, engine: Engine) -> None:
    app.extensions["sendai_engine"] = engine
    app.extensions["sendai_sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        from flask import g

        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def request_session() -> Session:
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["sendai_sessions"]()
    return g.db_session


def engine() -> Engine:
    from flask import current_app

    return current_app.extensions["sendai_engine"]
