"""Counting what a request costs the database, below SQLAlchemy: round trips and checkouts.

A round trip is one exchange the database answers: on SQLite, one statement the sqlite3
driver runs (`sqlite3.Connection.set_trace_callback` sees every one, BEGIN and COMMIT
included, whoever issues it: SQLAlchemy, the server's own driver calls or raw code); on
PostgreSQL, one frontend message that waits for the server's answer, counted on the wire by
`PostgresProxy`, a small TCP proxy in front of PostgreSQL: a simple Query ('Q') or a Sync
('S') ending an extended-protocol batch (Parse/Bind/Describe/Execute). Each round trip is
classified by its SQL: begin, commit, rollback, ping (`;` or `SELECT 1`, what pool_pre_ping
sends), prepare (a batch that only parses: psycopg preparing a statement), or statement.
"Statements" are round trips minus BEGIN, COMMIT, ROLLBACK and pings (and prepares, which
execute nothing: psycopg's one Parse round trip when it first prepares a statement on a
connection; there are none once a connection is warm).

`Checkouts` counts the `checkout` events of a SQLAlchemy engine's pool.

SQLAlchemy's `before_cursor_execute` event, which the bench used to count statements with,
sees only what goes through SQLAlchemy's execution layer; these see everything.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

KINDS = ("statement", "begin", "commit", "rollback", "ping", "prepare")
NOT_STATEMENTS = ("begin", "commit", "rollback", "ping", "prepare")


def classify(sql: str | None) -> str:
    """What kind of round trip `sql` is (None: a batch that executed nothing)."""
    if sql is None:
        return "prepare"
    text = sql.strip().rstrip(";").strip().upper()
    if text in ("", "SELECT 1"):
        return "ping"
    first = text.split(None, 1)[0]
    if first in ("BEGIN", "START"):
        return "begin"
    if first in ("COMMIT", "END"):
        return "commit"
    if first in ("ROLLBACK", "ABORT") and " TO " not in f" {text} ":
        return "rollback"
    return "statement"


class RoundTrips:
    """A thread-safe tally of round trips by kind, with the SQL of each (for reading)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.kinds: Counter[str] = Counter()
        self.log: list[tuple[str, str | None]] = []

    def record(self, sql: str | None) -> None:
        self.add(classify(sql), sql)

    def add(self, kind: str, sql: str | None) -> None:
        with self._lock:
            self.kinds[kind] += 1
            self.log.append((kind, sql))

    def reset(self) -> None:
        with self._lock:
            self.kinds.clear()
            self.log.clear()

    @property
    def round_trips(self) -> int:
        return sum(self.kinds.values())

    @property
    def statements(self) -> int:
        return self.round_trips - sum(self.kinds[k] for k in NOT_STATEMENTS)

    def counts(self) -> dict[str, int]:
        with self._lock:
            out = {"round_trips": self.round_trips, "statements": self.statements}
            out.update({kind: self.kinds[kind] for kind in KINDS})
            return out


# --- SQLite: the driver's trace callback ----------------------------------------------------

def trace_sqlite_connection(dbapi_connection: Any, tally: RoundTrips) -> None:
    """Record every statement this sqlite3 connection runs from now on."""
    dbapi_connection.set_trace_callback(tally.record)


def trace_sqlite(engine: Engine, tally: RoundTrips) -> None:
    """Trace every connection the engine opens from now on (its pool is emptied first, so
    that none opened earlier goes untraced)."""
    event.listen(engine, "connect",
                 lambda dbapi_connection, _record: trace_sqlite_connection(dbapi_connection,
                                                                           tally))
    engine.dispose()


# --- SQLAlchemy's pool ----------------------------------------------------------------------

class Checkouts:
    """Counts connections checked out of an engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine.pool, "checkout", self._on_checkout)

    def _on_checkout(self, *_args: Any) -> None:
        self.count += 1

    def reset(self) -> None:
        self.count = 0


@contextmanager
def measuring(tally: RoundTrips, checkouts: Checkouts | None = None) -> Iterator[dict[str, int]]:
    """Reset the counters, run the block, then fill the yielded dict with what it cost."""
    tally.reset()
    if checkouts is not None:
        checkouts.reset()
    out: dict[str, int] = {}
    yield out
    out.update(tally.counts())
    if checkouts is not None:
        out["checkouts"] = checkouts.count


# --- PostgreSQL: a counting proxy -----------------------------------------------------------

_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102


def _cstring(data: bytes, start: int) -> tuple[str, int]:
    end = data.index(b"\0", start)
    return data[start:end].decode("utf-8", "replace"), end + 1


class _FrontendParser:
    """Reads what a PostgreSQL client sends and records each round trip it asks for."""

    def __init__(self, tally: RoundTrips) -> None:
        self.tally = tally
        self.buffer = bytearray()
        self.started = False  # past the startup message: typed messages from here on
        self.prepared: dict[str, str] = {}  # statement name ('' unnamed) -> SQL
        self.batch: list[str] = []  # SQL of the statements bound since the last Sync

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """(bytes to forward to the server, bytes to answer the client with directly)."""
        self.buffer += data
        forward, answer = bytearray(), bytearray()
        while True:
            if not self.started:
                if len(self.buffer) < 8:
                    break
                length = struct.unpack_from("!i", self.buffer, 0)[0]
                if len(self.buffer) < length:
                    break
                message = bytes(self.buffer[:length])
                del self.buffer[:length]
                code = struct.unpack_from("!i", message, 4)[0]
                if code in (_SSL_REQUEST, _GSSENC_REQUEST):
                    answer += b"N"  # no encryption: the proxy must read the messages
                    continue
                forward += message
                if code != _CANCEL_REQUEST:
                    self.started = True
                continue
            if len(self.buffer) < 5:
                break
            length = struct.unpack_from("!i", self.buffer, 1)[0]
            if len(self.buffer) < 1 + length:
                break
            message = bytes(self.buffer[: 1 + length])
            del self.buffer[: 1 + length]
            self._message(message[0:1], message[5:])
            forward += message
        return bytes(forward), bytes(answer)

    def _message(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self.tally.record(body[:-1].decode("utf-8", "replace"))
        elif kind == b"P":
            name, at = _cstring(body, 0)
            self.prepared[name], _ = _cstring(body, at)
        elif kind == b"B":
            _portal, at = _cstring(body, 0)
            statement, _ = _cstring(body, at)
            self.batch.append(self.prepared.get(statement, "?"))
        elif kind == b"C" and body[:1] == b"S":
            self.prepared.pop(_cstring(body, 1)[0], None)
        elif kind == b"S":
            kinds = {classify(sql) for sql in self.batch}
            if not self.batch:
                self.tally.add("prepare", None)
            elif len(kinds) == 1:
                self.tally.add(kinds.pop(), "; ".join(self.batch))
            else:
                self.tally.add("statement", "; ".join(self.batch))
            self.batch = []


class PostgresProxy:
    """A TCP proxy on 127.0.0.1 in front of a PostgreSQL server that counts round trips.

    Every message a client sends is counted before it is forwarded, so once the client has
    the answer to a round trip, that round trip is in `tally`. SSL is refused (answered 'N')
    so that the messages can be read; use it on loopback only.
    """

    def __init__(self, upstream_host: str, upstream_port: int,
                 tally: RoundTrips | None = None) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.tally = tally if tally is not None else RoundTrips()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, name="pg-proxy", daemon=True).start()

    @classmethod
    def for_url(cls, url: str, tally: RoundTrips | None = None) -> PostgresProxy:
        parsed = make_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432, tally)

    def url(self, url: str) -> str:
        """`url` pointed at the proxy instead of the server."""
        parsed = make_url(url).set(host="127.0.0.1", port=self.port)
        return parsed.render_as_string(hide_password=False)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            parser = _FrontendParser(self.tally)
            threading.Thread(target=self._pump, args=(client, server, parser.feed),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, None),
                             daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket,
              feed: Callable[[bytes], tuple[bytes, bytes]] | None) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if feed is None:
                    target.sendall(data)
                    continue
                forward, answer = feed(data)
                if answer:
                    source.sendall(answer)
                if forward:
                    target.sendall(forward)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        self._listener.close()
        for sock in sockets:
            with suppress(OSError):
                sock.close()

    def __enter__(self) -> PostgresProxy:
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
