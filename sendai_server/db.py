"""Engine, sessions and the SQLite settings that make it safe under several workers.

SQLite: WAL so readers never block the writer, a busy timeout so a second writer waits
instead of failing, foreign keys on, and write transactions opened with BEGIN IMMEDIATE so two
workers can never both read a task and then both change it. PostgreSQL: row locks
(SELECT ... FOR UPDATE) give the same guarantee; see services/tasks.py.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
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

    on_disk = url.database not in (None, "", ":memory:")
    queue = _WriterQueue(f"{url.database}-writers") if on_disk else None

    # BEGIN goes straight to the driver: through SQLAlchemy's statement execution it costs as
    # much as a small SELECT, on every request.
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        pooled = connection.connection
        if connection.get_execution_options().get(_WRITE_OPTION):
            if queue is not None:
                queue.acquire(pooled.info)
            try:
                pooled.driver_connection.execute("BEGIN IMMEDIATE")
            except BaseException:
                if queue is not None:
                    queue.release(pooled.info)
                raise
        else:
            pooled.driver_connection.execute("BEGIN")

    if queue is not None:
        queue.listen(engine)
    return engine


class _WriterQueue:
    """Makes a SQLite writer wait for the one before it in the kernel, not in a sleep loop.

    When BEGIN IMMEDIATE finds the write lock taken, SQLite's busy handler sleeps 1, 2, 5, 10,
    ... up to 100 ms between retries, so two workers writing at once lose milliseconds per
    write and the tail latency explodes. Here each write transaction first takes an exclusive
    flock on a file beside the database and gives it back once its COMMIT or ROLLBACK is done:
    the next writer wakes the moment the previous one ends. BEGIN IMMEDIATE still holds the
    guarantee (also against programs that do not take the flock); the flock only queues.
    Write transactions must not nest (they could not on SQLite anyway).
    """

    _FD = "sendai_writer_fd"
    _HELD = "sendai_writer_held"

    def __init__(self, path: str) -> None:
        self.path = path

    def acquire(self, info: dict[str, Any]) -> None:
        fd = info.get(self._FD)
        if fd is None:
            fd = info[self._FD] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        info[self._HELD] = True

    def release(self, info: dict[str, Any]) -> None:
        if info.pop(self._HELD, False):
            fcntl.flock(info[self._FD], fcntl.LOCK_UN)

    def listen(self, engine: Engine) -> None:
        # SQLAlchemy's commit/rollback events fire before the DBAPI call; a writer ends its
        # transaction itself so that the flock is released only once SQLite's lock is.
        @event.listens_for(engine, "commit")
        def _on_commit(connection: Any) -> None:
            info = connection.connection.info
            if info.get(self._HELD):
                try:
                    connection.connection.dbapi_connection.commit()
                finally:
                    self.release(info)

        @event.listens_for(engine, "rollback")
        def _on_rollback(connection: Any) -> None:
            info = connection.connection.info
            if info.get(self._HELD):
                try:
                    connection.connection.dbapi_connection.rollback()
                finally:
                    self.release(info)

        @event.listens_for(engine.pool, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            if record is not None:
                self.release(record.info)

        @event.listens_for(engine.pool, "close")
        def _on_close(_dbapi_connection: Any, record: Any) -> None:
            self.release(record.info)
            fd = record.info.pop(self._FD, None)
            if fd is not None:
                os.close(fd)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: the view serializes what the service returned
    # without a second round of SELECTs.
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def begin_write(session: Session) -> None:
    """Open the session's transaction as a write transaction.

    Call first thing in a service that changes data. On SQLite this takes the database's
    write lock up front (BEGIN IMMEDIATE); elsewhere it is an ordinary BEGIN. A transaction
    already open would be upgraded from read to write mid-way, which SQLite may refuse under
    load: end it (commit or rollback) before calling this. (A request's authentication reads
    on its own connection, `request_connection`, which `request_session` ends first.)
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


# --- Flask integration: per request, one read connection and one session, both closed when
# the request ends. ---------------------------------------------------------------------------

def init_app(app: Any, engine: Engine) -> None:
    app.extensions["sendai_engine"] = engine
    app.extensions["sendai_sessions"] = make_session_factory(engine)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        from flask import g

        connection = g.pop("db_connection", None)
        if connection is not None:
            connection.close()
        session = g.pop("db_session", None)
        if session is not None:
            session.close()


def request_connection() -> Connection:
    """The request's read connection, with no Session around it: authentication reads the key
    in its transaction and a read-only service (GET task) goes on in the same one, so a GET
    is one BEGIN and no ORM bookkeeping. `request_session()` ends it before any other work."""
    from flask import g

    if "db_connection" not in g:
        g.db_connection = engine().connect()
    return g.db_connection


def request_session() -> Session:
    """The request's session. Ends the request's read connection first (its transaction is
    rolled back and the connection goes back to the pool), so that a service starts a
    transaction of its own, a write one if it changes data."""
    from flask import current_app, g

    if "db_session" not in g:
        connection = g.pop("db_connection", None)
        if connection is not None:
            connection.close()
        g.db_session = current_app.extensions["sendai_sessions"]()
    return g.db_session


def request_engine() -> Engine:
    """The engine, for a service that opens its own connections (a change to a task); the
    request's read connection is ended first, as `request_session` does."""
    from flask import g

    connection = g.pop("db_connection", None)
    if connection is not None:
        connection.close()
    return engine()


def engine() -> Engine:
    from flask import current_app

    return current_app.extensions["sendai_engine"]
