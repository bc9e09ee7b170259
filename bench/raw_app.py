"""The raw driver's ceiling: the bench's two routes on the server's database, without SQLAlchemy.

GET /v2/<team_id>/project/<project_id>/task/<task_id> and POST .../task/<task_id>/discard,
answered from the database DATABASE_URL names (read as the server reads it) with the driver
alone: stdlib `sqlite3` for sqlite:///..., psycopg 3 for postgresql://... One connection per
worker thread, opened on first use after gunicorn's fork. The statements are the server's
own, as text (tests/app/test_raw_peer.py checks them against the server's compiled SQLAlchemy
statements): the key lookup by the SHA-256 of the bearer key, the task row, the children
UNION ALL; a discard runs BEGIN (BEGIN IMMEDIATE on SQLite, behind the same writer flock the
server takes), the task row (FOR UPDATE on PostgreSQL), the UPDATE, the audit INSERT, COMMIT,
the upload's settling (its updated_at, and its move to Processed once COMPLETED: the server's
own statement, compiled here once per driver), COMMIT, then the children. Lone reads run in
autocommit: no BEGIN, no ROLLBACK. So a GET is 3 round trips to the database and a discard 8.

The answers are the server's: the same JSON envelope and field order, timestamps as
%Y-%m-%dT%H:%M:%SZ, the same audit row (request_id NULL), the same error shape for 400, 401,
403 and 404. What it leaves out: the request log, rate limits, X-Request-Id, the key's
last_used_at (the server writes it once a minute per key), and every other route.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

# The statements live in bench/raw_sql.py; the names are kept here for their readers.
from bench.raw_sql import (  # noqa: F401
    POSTGRES_SQL,
    SETTLE_POSTGRES,
    SETTLE_SQLITE,
    SQLITE_SQL,
    statements,
)

DEFAULT_DATABASE_URL = "sqlite:///instance/sendai.db"  # sendai_server.config's default
SQLITE_BUSY_TIMEOUT_MS = 30_000
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

_BEARER = re.compile(r"Bearer +(\S+) *", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"sk_[A-Za-z0-9_-]{32,128}")
_LOOKUP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


# --- errors ---------------------------------------------------------------------------------

class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details, self.headers = details, headers or {}


def _unauthenticated(message: str | None = None) -> _Refused:
    return _Refused(401, "unauthenticated", message or (
        "A valid API key is required: send 'Authorization: Bearer <api key>'."
    ), headers={"WWW-Authenticate": "Bearer"})


def _not_found(message: str = "Nothing was found at this path.") -> _Refused:
    return _Refused(404, "not_found", message)


def _error_response(error: _Refused) -> Response:
    body: dict[str, Any] = {"status": error.status, "code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    response = jsonify({"error": body, "request_id": f"req_{secrets.token_hex(10)}"})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


# --- the drivers ----------------------------------------------------------------------------

class _Backend:
    """One connection per worker thread (gunicorn's gthread workers run several; a pooled
    connection of the server's is one thread's at a time too), opened on first use, after
    gunicorn's fork."""

    sql: dict[str, str]

    def __init__(self, url: str) -> None:
        self.url = url
        self.connect_hooks: list[Callable[[Any], None]] = []  # bench/counting.py hooks in here
        self._local = threading.local()  # pid, conn, cursor (and queue_fd, SQLite's)
        self._opened: list[tuple[int, Any]] = []

    @property
    def _mine(self) -> Any:
        """This thread's connection state, none after a fork."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            local.pid, local.conn, local.cursor = os.getpid(), None, None
        return local

    def cursor(self) -> Any:
        mine = self._mine
        if mine.cursor is None:
            mine.conn = self._connect()
            self._opened.append((os.getpid(), mine.conn))
            for hook in self.connect_hooks:
                hook(mine.conn)
            mine.cursor = mine.conn.cursor()
        return mine.cursor

    def close(self) -> None:
        for pid, conn in self._opened:
            if pid == os.getpid():
                conn.close()
        self._opened.clear()
        self._local = threading.local()

    def _connect(self) -> Any:
        raise NotImplementedError

    def fetch(self, name: str, params: Any) -> list[Any]:
        raise NotImplementedError

    # Per-driver conversions of what the columns hold.
    @staticmethod
    def timestamp(value: Any) -> str | None:
        raise NotImplementedError

    @staticmethod
    def json_value(value: Any) -> Any:
        return value

    def begin_write(self) -> None:
        raise NotImplementedError

    def end_write(self, commit: bool) -> None:
        raise NotImplementedError

    def db_now(self, now: datetime) -> Any:
        return now.replace(tzinfo=None)

    def key_params(self, digest: str) -> Any:
        raise NotImplementedError

    def task_params(self, project_id: str, task_id: str) -> Any:
        raise NotImplementedError

    def children_params(self, task_id: str) -> Any:
        raise NotImplementedError

    def update_params(self, status: str, opened: Any, task_id: str) -> Any:
        raise NotImplementedError

    def event_params(self, row: dict[str, Any]) -> Any:
        raise NotImplementedError

    def settle_params(self, now: Any, upload_id: str, task_id: str) -> Any:
        params = self.settle.construct_params(
            {"now": now, "upload_id": upload_id, "task_id": task_id})
        if self.settle.positional:
            return tuple(params[name] for name in self.settle.positiontup)
        return params


class _SQLite(_Backend):
    sql = SQLITE_SQL
    settle = SETTLE_SQLITE
    _EVENT_ORDER = ("id", "task_id", "action", "from_status", "to_status", "approved", "key_id",
                    "request_id", "created_at", "details")

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = url.split("///", 1)[1]

    def _connect(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        # The server's settings (sendai_server/store/db.py): WAL, synchronous=NORMAL.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON",
                       f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
            conn.execute(f"PRAGMA {pragma}")
        # Its own descriptor of the queue file: flock excludes descriptors, not threads.
        self._mine.queue_fd = os.open(f"{self.path}-writers", os.O_RDWR | os.O_CREAT, 0o600)
        return conn

    def fetch(self, name: str, params: Any) -> list[Any]:
        cursor = self.cursor()
        cursor.execute(self.sql[name], params)
        return cursor.fetchall()

    @staticmethod
    def timestamp(value: Any) -> str | None:
        # Stored by SQLAlchemy as 'YYYY-MM-DD HH:MM:SS[.ffffff]' (naive UTC).
        return None if value is None else f"{value[:10]}T{value[11:19]}Z"

    @staticmethod
    def json_value(value: Any) -> Any:
        return None if value is None else json.loads(value)

    def begin_write(self) -> None:
        cursor = self.cursor()
        # Writers queue on the server's flock (db._WriterQueue), then take SQLite's lock.
        fcntl.flock(self._mine.queue_fd, fcntl.LOCK_EX)
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except BaseException:
            fcntl.flock(self._mine.queue_fd, fcntl.LOCK_UN)
            raise

    def end_write(self, commit: bool) -> None:
        try:
            self.cursor().execute("COMMIT" if commit else "ROLLBACK")
        finally:
            fcntl.flock(self._mine.queue_fd, fcntl.LOCK_UN)

    def db_now(self, now: datetime) -> Any:
        # SQLAlchemy's SQLite DateTime storage format.
        return now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def key_params(self, digest: str) -> Any:
        return (digest,)

    def task_params(self, project_id: str, task_id: str) -> Any:
        return (task_id, project_id)

    def children_params(self, task_id: str) -> Any:
        return (task_id,) * 6

    def update_params(self, status: str, opened: Any, task_id: str) -> Any:
        return (status, opened, task_id)

    def event_params(self, row: dict[str, Any]) -> Any:
        return tuple(row[name] for name in self._EVENT_ORDER)


class _Postgres(_Backend):
    sql = POSTGRES_SQL
    settle = SETTLE_POSTGRES

    def _connect(self) -> Any:
        import psycopg

        # Autocommit: a lone read sends no BEGIN; a discard sends BEGIN and COMMIT itself.
        return psycopg.connect(self.url, autocommit=True)

    def fetch(self, name: str, params: Any) -> list[Any]:
        cursor = self.cursor()
        cursor.execute(self.sql[name], params, prepare=True)
        return cursor.fetchall() if cursor.description is not None else []

    @staticmethod
    def timestamp(value: Any) -> str | None:
        return None if value is None else value.strftime(TIMESTAMP_FORMAT)

    def begin_write(self) -> None:
        self.cursor().execute("BEGIN")

    def end_write(self, commit: bool) -> None:
        self.cursor().execute("COMMIT" if commit else "ROLLBACK")

    def key_params(self, digest: str) -> Any:
        return {"digest": digest}

    def task_params(self, project_id: str, task_id: str) -> Any:
        return {"task_id": task_id, "project_id": project_id}

    def children_params(self, task_id: str) -> Any:
        return {"task_id": task_id}

    def update_params(self, status: str, opened: Any, task_id: str) -> Any:
        return {"status": status, "last_opened_at": opened, "changed_task_id": task_id}

    def event_params(self, row: dict[str, Any]) -> Any:
        return row


def backend_for(url: str) -> _Backend:
    if url.startswith("sqlite"):
        return _SQLite(url)
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        return _Postgres(url.replace("postgresql+psycopg://", "postgresql://", 1))
    raise ValueError(f"raw_app serves sqlite:/// or postgresql:// URLs, not {url!r}")


# --- the two routes -------------------------------------------------------------------------

def _authorize(db: _Backend, team_id: str, project_id: str, scope: str) -> str:
    """The key's id, after the server's checks in its order: 401, 404, 403."""
    match = _BEARER.fullmatch(request.headers.get("Authorization") or "")
    if match is None or not _KEY_SHAPE.fullmatch(match.group(1)):
        raise _unauthenticated()
    digest = hashlib.sha256(match.group(1).encode()).hexdigest()
    rows = db.fetch("key_lookup", db.key_params(digest))
    if not rows or not hmac.compare_digest(rows[0][3], digest):
        raise _unauthenticated()
    key_id, key_team, scopes, _hash, revoked_at = rows[0][:5]
    if revoked_at is not None:
        raise _unauthenticated("This API key has been revoked.")
    if team_id != key_team or project_id not in {row[6] for row in rows}:
        raise _not_found()
    if scope not in db.json_value(scopes):
        raise _Refused(403, "insufficient_scope",
                       f"This API key lacks the '{scope}' scope that this endpoint needs.",
                       {"required": scope})
    return key_id


def _public_task(db: _Backend, row: Any, opened: str | None = None) -> dict[str, Any]:
    """The task's own columns in the schema's order; meta and pages are filled in after."""
    timestamp = db.timestamp
    return {
        "id": row[0], "name": row[2], "created_at": timestamp(row[3]), "meta": [],
        "status": row[4], "step_type": row[5], "upload_id": row[6], "project_id": row[1],
        "approved": bool(row[7]), "exported_at": timestamp(row[8]),
        "export_failed_at": timestamp(row[9]),
        "last_opened_at": opened if opened is not None else timestamp(row[10]), "pages": [],
    }


def _add_children(db: _Backend, task: dict[str, Any]) -> dict[str, Any]:
    json_value = db.json_value
    meta, pages = task["meta"], task["pages"]
    by_id: dict[str, dict[str, Any]] = {}
    for r in db.fetch("children", db.children_params(task["id"])):
        kind = r[0]
        if kind == "meta":
            meta.append({"name": r[6], "value": r[7]})
        elif kind == "page":
            page = by_id[r[5]] = {"id": r[5], "width": r[8], "height": r[9], "annotations": [],
                                  "checkboxes": [], "segments": [], "signatures": []}
            pages.append(page)
        elif kind == "annotations":
            by_id[r[3]]["annotations"].append({
                "id": r[5], "entity_id": r[10], "confidence": r[14], "content": r[11],
                "top": r[12], "left_of_line": r[13],
            })
        elif kind == "checkboxes":
            by_id[r[3]]["checkboxes"].append({
                "id": r[5], "confidence": r[14], "checked": bool(r[15]),
                "coordinates": json_value(r[16]),
            })
        else:  # segments, signatures
            by_id[r[3]][kind].append({"id": r[5], "confidence": r[14],
                                      "coordinates": json_value(r[16])})
    return task


def _check_task_id(task_id: str) -> None:
    if not _LOOKUP_ID.fullmatch(task_id):
        raise _not_found(f"Task {task_id[:64]!r} was not found.")


def create_app(database_url: str | None = None) -> Flask:
    url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    db = backend_for(url)
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["raw_backend"] = db

    @app.errorhandler(_Refused)
    def _refused(error: _Refused) -> Response:
        return _error_response(error)

    @app.get("/v2/<team_id>/project/<project_id>/task/<task_id>")
    def get_task(team_id: str, project_id: str, task_id: str) -> Any:
        _authorize(db, team_id, project_id, "task.read")
        _check_task_id(task_id)
        rows = db.fetch("task_row", db.task_params(project_id, task_id))
        if not rows:
            raise _not_found(f"Task {task_id} was not found.")
        return jsonify({"payload": _add_children(db, _public_task(db, rows[0]))})

    @app.post("/v2/<team_id>/project/<project_id>/task/<task_id>/discard")
    def discard_task(team_id: str, project_id: str, task_id: str) -> Any:
        key_id = _authorize(db, team_id, project_id, "task.edit")
        _check_task_id(task_id)
        db.begin_write()
        committed = False
        try:
            rows = db.fetch("task_row_for_update", db.task_params(project_id, task_id))
            if not rows:
                raise _not_found(f"Task {task_id} was not found.")
            row = rows[0]
            if row[4] != "REVIEWING":
                raise _Refused(
                    400, "invalid_task_state",
                    f"Task {task_id} is {row[4]}; only REVIEWING tasks can be discarded.",
                    {"status": row[4], "allowed": ["REVIEWING"]},
                )
            now = datetime.now(UTC)
            stored_now = db.db_now(now)
            db.fetch("update_task", db.update_params("DISCARDED", stored_now, task_id))
            db.fetch("insert_event", db.event_params({
                "id": f"evt_{secrets.token_hex(10)}", "task_id": task_id, "action": "discard",
                "from_status": row[4], "to_status": "DISCARDED", "approved": row[7],
                "key_id": key_id, "request_id": None, "created_at": stored_now,
                # The server's JSON column stores None as JSON null.
                "details": "null",
            }))
            db.fetch("settle_upload", db.settle_params(stored_now, row[6], task_id))
            db.end_write(commit=True)
            committed = True
        finally:
            if not committed:
                db.end_write(commit=False)
        task = _public_task(db, row, opened=now.strftime(TIMESTAMP_FORMAT))
        task["status"] = "DISCARDED"
        return jsonify({"payload": _add_children(db, task)})

    @app.get("/readyz")
    def readyz() -> Any:
        return jsonify({"status": "ok"})

    return app


app = create_app()
