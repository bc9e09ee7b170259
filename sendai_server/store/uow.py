"""The unit of work: the one owner of a connection and of its transactions.

A request, a CLI command or a worker's job makes one `UnitOfWork` and hands it to every
service it calls, first argument. It checks out at most one pooled connection, lazily, and
keeps it until `close()`. Services say what they do with it:

    with uow.read() as conn:      # lone reads: no BEGIN, each statement sees what is committed
        ...
    with uow.write() as conn:     # one transaction: BEGIN (IMMEDIATE on SQLite, after the
        ...                       # writer queue), COMMIT at the end, ROLLBACK on any exception

and never begin, commit or roll back themselves. A write does not nest in another write; a
read inside a write reads in the write's transaction. Row locks (SELECT ... FOR UPDATE) stay
the services' business on PostgreSQL.

Failures of the database itself become `Unavailable` (503, errors.py): the connection could
not be made, was found dead, or the schema has no such table (a database never migrated).
A connection found dead by the first statement of a unit of work (a PostgreSQL backend
terminated between two requests) is replaced and that statement run again, by `first_read`.

Flask-free: a request's unit of work is web.py's `current_uow()`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from ..domain.errors import Unavailable
from . import db

log = logging.getLogger("sendai_server.store.db")
T = TypeVar("T")

_UNREACHABLE = "The database does not answer; retry shortly."
NOT_MIGRATED = (
    "The database schema is not at this server's version; run 'sendai-server db upgrade'."
)


# How many dead pooled connections `first_read` drops before it gives up: more than a pool
# holds (SQLAlchemy's default 5, and 10 of overflow) is never needed.
_DEAD_CONNECTIONS_AT_MOST = 16


class _Outage:
    """Log an outage once, when it starts, and once when it ends: not once per request."""

    down = False

    @classmethod
    def begins(cls, exc: BaseException) -> None:
        if not cls.down:
            cls.down = True
            log.error("database unavailable: %s", type(exc).__name__)

    @classmethod
    def ends(cls) -> None:
        if cls.down:
            cls.down = False
            log.warning("database available again")


class UnitOfWork:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._writing = False
        self._lost = False  # the last failure was a pooled connection found dead
        self._queue = db.writer_queue(engine)
        self._begin_write = "BEGIN IMMEDIATE" if db.is_sqlite(engine) else "BEGIN"

    # --- the connection ---------------------------------------------------------------------

    def _connection(self) -> Connection:
        if self._conn is None:
            try:
                self._conn = self.engine.connect()
            except DBAPIError as exc:
                _Outage.begins(exc)
                raise Unavailable(_UNREACHABLE) from exc
            _Outage.ends()
        return self._conn

    def close(self) -> None:
        """Give the connection back to the pool. Any transaction still open is rolled back
        (only an interrupted write could leave one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- reads and writes -------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Connection]:
        conn = self._connection()
        try:
            yield conn
        except (DBAPIError, self._driver_error()) as exc:
            self._raise_database_failure(exc)
            raise
        finally:
            if not self._writing and self._conn is not None and conn.in_transaction():
                conn.commit()  # SQLAlchemy's bookkeeping only: the driver is in autocommit

    def first_read(self, read: Callable[[Connection], T]) -> T:
        """`read(conn)` in read mode. When the pooled connection turns out dead at this, the
        unit of work's first statement, it is dropped and `read` run again on the next one: a
        read, so running it again is safe. (What a pre-ping per checkout would do, without its
        round trip on every request.) The pool may hold several dead connections (the
        database ended every backend: a restart, `pg_terminate_backend`), each dropped in turn
        until a live or a new one answers; a database that does not answer a new connection
        is Unavailable at once."""
        for _ in range(_DEAD_CONNECTIONS_AT_MOST):
            self._lost = False
            try:
                with self.read() as conn:
                    return read(conn)
            except Unavailable:
                if not self._lost:
                    raise  # no connection could be made, or the failure was something else
        with self.read() as conn:
            return read(conn)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if self._writing:
            raise RuntimeError("uow.write() does not nest")
        conn = self._connection()
        info = conn.connection.info
        if self._queue is not None:
            self._queue.acquire(info)
        try:
            try:
                conn.connection.driver_connection.execute(self._begin_write)  # type: ignore[union-attr]
            except self._driver_error() as exc:
                self._raise_database_failure(exc)
                raise
            self._writing = True
            try:
                yield conn
            except BaseException as exc:
                # A lost connection first: it is dropped before anything touches it again
                # (a rollback on it would raise SQLAlchemy's PendingRollbackError, a 500).
                if isinstance(exc, DBAPIError | self._driver_error()) and self._lost_by(exc):
                    self._raise_lost(exc)
                self._end(conn, commit=False)
                if isinstance(exc, DBAPIError | self._driver_error()):
                    self._raise_database_failure(exc)
                raise
            self._end(conn, commit=True)
        finally:
            self._writing = False
            if self._queue is not None:
                self._queue.release(info)

    def _end(self, conn: Connection, *, commit: bool) -> None:
        if self._conn is None:  # dropped on the way: the database ended the transaction
            return
        if conn.invalidated:  # SQLAlchemy found it lost under a caller that caught the error
            self._raise_lost(None)
        driver: Any = conn.connection.driver_connection
        try:
            driver.commit() if commit else driver.rollback()
        except self._driver_error() as exc:
            self._raise_database_failure(exc)
            raise
        if conn.in_transaction():
            conn.rollback()  # SQLAlchemy's bookkeeping only: the driver's transaction is over

    # --- failures of the database itself ----------------------------------------------------

    def _driver_error(self) -> type[Exception]:
        error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        return error

    def _raise_database_failure(self, exc: BaseException) -> None:
        """Raise Unavailable for a lost connection or a missing table; return for anything
        else (a bug, or a constraint), which the caller re-raises as it is."""
        if self._lost_by(exc):
            self._raise_lost(exc)
        original: Any = exc.orig if isinstance(exc, DBAPIError) else exc
        if original is not None and _is_missing_table(original):
            raise Unavailable(NOT_MIGRATED) from exc

    def _lost_by(self, exc: BaseException) -> bool:
        """Whether `exc` says the connection is gone: SQLAlchemy invalidated it already, or
        the dialect calls the driver's error a disconnect. The connection is not asked for
        its driver connection once invalidated (that raises PendingRollbackError while the
        dead transaction is open)."""
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        conn = self._conn
        if conn is None:
            return False
        if conn.invalidated:
            return True
        original: Any = exc.orig if isinstance(exc, DBAPIError) else exc
        return bool(self.engine.dialect.is_disconnect(
            original, conn.connection.dbapi_connection, None
        ))

    def _raise_lost(self, exc: BaseException | None) -> NoReturn:
        """Drop the lost connection from the pool (invalidate, then close: no rollback is
        sent to a dead socket) and raise Unavailable; the unit of work's next statement
        checks out another connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            original: Any = exc.orig if isinstance(exc, DBAPIError) else exc
            try:
                if not conn.invalidated:
                    conn.invalidate(original if isinstance(original, Exception) else None)
                conn.close()
            except Exception:  # SQLAlchemy's bookkeeping on a dead connection: nothing to keep
                log.debug("closing a lost connection failed", exc_info=True)
        self._lost = True
        _Outage.begins(exc or Unavailable(_UNREACHABLE))
        raise Unavailable(_UNREACHABLE) from exc


def _is_missing_table(exc: BaseException) -> bool:
    text = str(exc)
    if isinstance(exc, OperationalError | ProgrammingError):
        text = str(exc.orig)
    return "no such table" in text or ("relation" in text and "does not exist" in text)
