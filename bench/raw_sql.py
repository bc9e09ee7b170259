"""The server's statements as text, for bench/raw_app.py's drivers: sqlite3's `?` placeholders
and psycopg's `%(name)s::TYPE`. tests/app/test_raw_peer.py checks each against the server's
compiled SQLAlchemy statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from sendai_server.services.upload_status import SETTLE_UPLOAD

# --- the server's statements, as text -------------------------------------------------------
# `p(name, type)` renders a placeholder: `?` for sqlite3 (positional), `%(name)s::TYPE` for
# psycopg (named, with the cast SQLAlchemy's psycopg dialect adds to string and time binds).

Placeholder = Callable[[str, str | None], str]

_KEY_COLUMNS = ("api_key.id, api_key.team_id, api_key.scopes, api_key.key_hash, "
                "api_key.revoked_at, api_key.last_used_at, api_key_project.project_id, "
                "team.fault_count, team_clock.now, team.profile")
_TASK_COLUMNS = ("task.id, task.project_id, task.name, task.created_at, task.status, "
                 "task.step_type, task.upload_id, task.approved, task.exported_at, "
                 "task.export_failed_at, task.last_opened_at")
# The UNION's columns and the SQL type of each (for the typed NULLs).
_CHILD_COLUMNS = (
    ("kind", "VARCHAR"), ("rank", "INTEGER"), ("task_id", "VARCHAR"), ("page_id", "VARCHAR"),
    ("position", "INTEGER"), ("id", "VARCHAR"), ("name", "VARCHAR"), ("value", "TEXT"),
    ("width", "INTEGER"), ("height", "INTEGER"), ("entity_id", "VARCHAR"), ("content", "TEXT"),
    ("top", "FLOAT"), ("left_of_line", "FLOAT"), ("confidence", "FLOAT"),
    ("checked", "BOOLEAN"), ("coordinates", "JSON"),
)
_ITEM_COLUMNS = {
    "annotation": ("annotations", ("id", "entity_id", "confidence", "content", "top",
                                   "left_of_line")),
    "checkbox": ("checkboxes", ("id", "confidence", "checked", "coordinates")),
    "segment": ("segments", ("id", "confidence", "coordinates")),
    "signature": ("signatures", ("id", "confidence", "coordinates")),
}


def _children_branch(kind: str, rank: int, columns: dict[str, str], source: str,
                     where: str) -> str:
    selected = [f"'{kind}' AS kind", f"{rank} AS rank"] + [
        f"{columns[name]} AS {name}" if name in columns else f"CAST(NULL AS {type_}) AS {name}"
        for name, type_ in _CHILD_COLUMNS[2:]
    ]
    return f"SELECT {', '.join(selected)} \nFROM {source} \nWHERE {where}"


def statements(p: Placeholder, postgres: bool) -> dict[str, str]:
    """The server's statements for one driver's placeholder style."""
    task_id = p("task_id", "VARCHAR")
    branches = [
        _children_branch("meta", 0, {
            "task_id": "task_meta.task_id", "position": "task_meta.position",
            "name": "task_meta.name", "value": "task_meta.value",
        }, "task_meta", f"task_meta.task_id = {task_id}"),
        _children_branch("page", 1, {
            "task_id": "page.task_id", "id": "page.id", "position": "page.position",
            "width": "page.width", "height": "page.height",
        }, "page", f"page.task_id = {task_id}"),
    ]
    for table, (kind, fields) in _ITEM_COLUMNS.items():
        columns = {name: f"{table}.{name}" for name in ("page_id", "position", *fields)}
        columns["task_id"] = "page.task_id"
        branches.append(_children_branch(
            kind, 2, columns, f"{table} JOIN page ON page.id = {table}.page_id",
            f"page.task_id = {task_id}",
        ))
    outer = ", ".join(f"anon_1.{name}" for name, _ in _CHILD_COLUMNS)
    task_row = (f"SELECT {_TASK_COLUMNS} \nFROM task \nWHERE task.id = {task_id} "
                f"AND task.project_id = {p('project_id', 'VARCHAR')}")
    return {
        "key_lookup": (
            f"SELECT {_KEY_COLUMNS} \nFROM api_key JOIN team ON team.id = api_key.team_id "
            f"LEFT OUTER JOIN api_key_project "
            f"ON api_key_project.key_id = api_key.id LEFT OUTER JOIN team_clock "
            f"ON team_clock.team_id = api_key.team_id \nWHERE api_key.key_hash = "
            f"{p('digest', 'VARCHAR')}"
        ),
        "task_row": task_row,
        "task_row_for_update": task_row + (" FOR UPDATE" if postgres else ""),
        "children": (f"SELECT {outer} \nFROM ({' UNION ALL '.join(branches)}) AS anon_1 "
                     "ORDER BY anon_1.rank, anon_1.position"),
        "update_task": (
            f"UPDATE task SET status={p('status', None)}, "
            f"last_opened_at={p('last_opened_at', 'TIMESTAMP WITHOUT TIME ZONE')} "
            f"WHERE task.id = {p('changed_task_id', 'VARCHAR')}"
        ),
        "insert_event": (
            "INSERT INTO task_event (id, task_id, action, from_status, to_status, approved, "
            "key_id, request_id, created_at, details) VALUES ("
            + ", ".join((
                p("id", "VARCHAR"), p("task_id", "VARCHAR"), p("action", "VARCHAR"),
                p("from_status", "VARCHAR"), p("to_status", "VARCHAR"), p("approved", None),
                p("key_id", "VARCHAR"), p("request_id", "VARCHAR"),
                p("created_at", "TIMESTAMP WITHOUT TIME ZONE"), p("details", "JSON"),
            ))
            + ")" + (" RETURNING task_event.seq" if postgres else "")
        ),
    }


def _qmark(_name: str, _type: str | None) -> str:
    return "?"


def _pyformat(name: str, type_: str | None) -> str:
    return f"%({name})s::{type_}" if type_ else f"%({name})s"


# The upload's settling is too long to restate by hand: the server's statement, compiled once
# per driver here (its constants, the folder names and statuses, bound as parameters).
SETTLE_SQLITE: Any = SETTLE_UPLOAD.statement.compile(dialect=sqlite_dialect.dialect())
SETTLE_POSTGRES: Any = SETTLE_UPLOAD.statement.compile(dialect=psycopg_dialect.dialect())
SQLITE_SQL = {**statements(_qmark, postgres=False), "settle_upload": SETTLE_SQLITE.string}
POSTGRES_SQL = {**statements(_pyformat, postgres=True), "settle_upload": SETTLE_POSTGRES.string}
