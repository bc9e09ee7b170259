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

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WRITE_OPTION = "sendai_write"
_HELD_READ = "sendai_held_read"


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

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(_WRITE_OPTION):
            if queue is not None:
                queue.acquire(connection.connection.info)
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if queue is not None:
                    queue.release(connection.connection.info)
                raise
        else:
            connection.exec_driver_sql("BEGIN")

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


def hold_read(session: Session) -> None:
    """Mark the session's open transaction as a read that may go on or be dropped.

    The request's authentication reads the key and leaves its transaction open, so that a
    read-only service continues in it (one BEGIN per GET instead of two); a writing service's
    `begin_write` ends it and starts its own write transaction.
    """
    session.info[_HELD_READ] = session.get_transaction()


def begin_write(session: Session) -> None:
    """Open the session's transaction as a write transaction.

    Call first thing in a service that changes data. On SQLite this takes the database's
    write lock up front (BEGIN IMMEDIATE); elsewhere it is an ordinary BEGIN. A transaction
    already open would be upgraded from read to write mid-way, which SQLite may refuse under
    load: end it (commit or rollback) before calling this. The one exception is a read
    marked with `hold_read` (the request's authentication), which is ended here.
    """
    if session.in_transaction():
        held = session.info.pop(_HELD_READ, None)
        if held is None or held is not session.get_transaction():
            raise RuntimeError("begin_write() needs a session with no transaction open")
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() with unsaved changes on the session")
        session.rollback()
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
