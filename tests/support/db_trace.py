"""What the database itself was sent, per request: every statement, BEGIN, COMMIT and ROLLBACK
included, whether it went through SQLAlchemy's execution layer or straight to the driver
(sendai_server/store/statements.py), and how many pooled connections were checked out.

SQLite: the driver's trace callback (`sqlite3.Connection.set_trace_callback`) sees each
statement as SQLite runs it. PostgreSQL: libpq's protocol trace (`PQtrace`, psycopg's
`pgconn.trace`) sees each message sent; a simple Query or an extended-protocol Sync is one
round trip.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
_PG_MESSAGE = re.compile(r"^F\t\d+\t(Query|Sync|Parse|Execute)\b\t?(.*)$")
PREPARE = "<prepare>"  # a round trip that only prepares a statement (psycopg, PostgreSQL)


@dataclass
class Trace:
    round_trips: list[str] = field(default_factory=list)  # one entry per round trip
    checkouts: int = 0

    @property
    def statements(self) -> list[str]:
        """Round trips that run a statement: not transaction control (BEGIN, COMMIT,
        ROLLBACK), nor preparing a statement to run."""
        return [s for s in self.round_trips if not _CONTROL.match(s) and s != PREPARE]

    def clear(self) -> None:
        self.round_trips.clear()
        self.checkouts = 0


@contextmanager
def trace_database(engine: Engine) -> Iterator[Trace]:
    trace = Trace()
    sqlite = engine.dialect.name == "sqlite"
    traced: dict[int, Any] = {}
    files: list[Any] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        trace.checkouts += 1
        if sqlite:
            dbapi_connection.set_trace_callback(trace.round_trips.append)
        else:
            handle = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
            files.append(handle)
            pgconn = dbapi_connection.pgconn
            pgconn.trace(handle.fileno())
            pgconn.set_trace_flags(1 | 2)  # PQTRACE_SUPPRESS_TIMESTAMPS | REGRESS_MODE
            traced[id(dbapi_connection)] = (pgconn, handle)

    def on_checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is None:
            return
        if sqlite:
            dbapi_connection.set_trace_callback(None)
            return
        entry = traced.pop(id(dbapi_connection), None)
        if entry is not None:
            pgconn, handle = entry
            pgconn.untrace()
            _read_pg_trace(handle, trace)

    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine.pool, "checkin", on_checkin)
    try:
        yield trace
    finally:
        event.remove(engine.pool, "checkout", on_checkout)
        event.remove(engine.pool, "checkin", on_checkin)
        for handle in files:
            handle.close()


def _read_pg_trace(handle: Any, trace: Trace) -> None:
    handle.flush()
    os.lseek(handle.fileno(), 0, os.SEEK_SET)
    handle.seek(0)
    parsed, executed = "", False
    for line in handle.read().splitlines():
        match = _PG_MESSAGE.match(line)
        if match is None:
            continue
        kind, rest = match.groups()
        if kind == "Parse":
            parsed = rest
        elif kind == "Execute":
            executed = True
        elif kind == "Query":
            trace.round_trips.append(rest.strip().strip('"'))
        else:  # Sync: the end of one extended-protocol exchange
            trace.round_trips.append(
                (parsed or "<prepared statement>") if executed else PREPARE
            )
            parsed, executed = "", False
