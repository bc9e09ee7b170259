"""Engines, and the SQLite settings that make it safe under several workers.

Every connection is in the driver's autocommit mode: a lone read is one statement and one
round trip, with no BEGIN and no ROLLBACK around it, and transactions are opened and ended
only by the unit of work (uow.py), which issues BEGIN itself. On PostgreSQL that also keeps
psycopg's prepared statements alive (psycopg drops them on every ROLLBACK).

SQLite: WAL so readers never block the writer, foreign keys on, a busy timeout, and write
transactions opened with BEGIN IMMEDIATE behind a writer queue (below), so two workers can
never both read a task and then both change it. PostgreSQL: row locks (SELECT ... FOR UPDATE,
services/tasks.py) give the same guarantee. No pre-ping per checkout: a connection found dead
by the first statement of a unit of work is replaced there (uow.py), at no cost to the rest.
"""

from __future__ import annotations

import fcntl
import os
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
SUPPORTED_BACKENDS = ("sqlite", "postgresql")

_WRITER_QUEUES: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _make_sqlite_engine(database_url, **kwargs)
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT", **kwargs)


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
        # pysqlite's own transaction handling off: BEGIN is the unit of work's to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    if url.database not in (None, "", ":memory:"):
        _WRITER_QUEUES[engine] = WriterQueue(f"{url.database}-writers")

        @event.listens_for(engine.pool, "close")
        def _on_close(_dbapi_connection: Any, record: Any) -> None:
            WriterQueue.forget(record.info)

    return engine


def writer_queue(engine: Engine) -> WriterQueue | None:
    """The queue SQLite writers of this engine wait in; None elsewhere."""
    return _WRITER_QUEUES.get(engine)


class WriterQueue:
    """Makes a SQLite writer wait for the one before it in the kernel, not in a sleep loop.

    When BEGIN IMMEDIATE finds the write lock taken, SQLite's busy handler sleeps 1, 2, 5, 10,
    ... up to 100 ms between retries, so two workers writing at once lose milliseconds per
    write and the tail latency explodes. Here each write transaction first takes an exclusive
    flock on a file beside the database and gives it back once its COMMIT or ROLLBACK is done:
    the next writer wakes the moment the previous one ends. BEGIN IMMEDIATE still holds the
    guarantee (also against programs that do not take the flock); the flock only queues.
    The file descriptor lives in the pooled connection's `info`, one per connection.
    """

    _FD = "sendai_writer_fd"

    def __init__(self, path: str) -> None:
        self.path = path

    def acquire(self, info: dict[str, Any]) -> None:
        fd = info.get(self._FD)
        if fd is None:
            fd = info[self._FD] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)

    def release(self, info: dict[str, Any]) -> None:
        fd = info.get(self._FD)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @classmethod
    def forget(cls, info: dict[str, Any]) -> None:
        fd = info.pop(cls._FD, None)
        if fd is not None:
            os.close(fd)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
