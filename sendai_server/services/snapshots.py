"""Snapshots of a team's state (docs/snapshots.md): take, list, delete, restore in place,
reset, export as one file and import one.

A snapshot's rows are kept per table (services/team_state.py says which tables and how); the
stored files its uploads refer to are kept by hash, like uploads' own: a file is deleted only
once no upload and no snapshot refers to it (stored_files.forget_unreferenced).
"""

from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, BinaryIO

from sqlalchemy import (
    Connection,
    String,
    UniqueConstraint,
    delete,
    func,
    insert,
    not_,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from ..domain import clock
from ..domain.errors import Conflict, NotFound
from ..domain.ids import is_lookup_id, new_id
from ..store import migrate
from ..store.models import Snapshot, SnapshotFile, SnapshotTable
from ..store.storage import Storage
from ..store.uow import UnitOfWork
from . import snapshot_file, state_diff
from .stored_files import forget_unreferenced
from .team_state import (
    KEY_PROJECTS,
    TEAM,
    Rows,
    capture,
    membership,
    replace_team_state,
    team_tables,
)

NAME_LIMIT = 200


def _plural(table: str) -> str:
    return table + ("es" if table.endswith(("s", "x", "ch")) else "s")


def _counts(rows: Rows, files: int) -> dict[str, int]:
    counts = {_plural(name): len(values) for name, (_c, values) in rows.items()
              if name not in (TEAM.name, KEY_PROJECTS.name)}
    counts["files"] = files
    return counts


def _public(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created_at": row.created_at,
            "schema_revision": row.schema_revision, "counts": row.counts, "bytes": row.bytes}


def _hashes(rows: Rows) -> list[str]:
    return sorted(_file_sizes(None, rows))


def _pack(columns: list[str], values: list[list[Any]]) -> bytes:
    return zlib.compress(json.dumps({"columns": columns, "rows": values},
                                    separators=(",", ":")).encode(), 1)


def _unpack(data: bytes) -> tuple[list[str], list[list[Any]]]:
    table = json.loads(zlib.decompress(data))
    return table["columns"], table["rows"]


def _store(conn: Connection, team_id: str, name: str | None, revision: str, rows: Rows,
           files: dict[str, int], created_at: datetime | None = None) -> dict[str, Any]:
    snapshot_id = new_id("snap")
    packed = {table: _pack(*content) for table, content in rows.items()}
    row = {"id": snapshot_id, "team_id": team_id, "name": name,
           "created_at": created_at or clock.now(), "schema_revision": revision,
           "counts": _counts(rows, len(files)),
           "bytes": sum(map(len, packed.values())) + sum(files.values())}
    conn.execute(insert(Snapshot), [row])
    conn.execute(insert(SnapshotTable), [
        {"snapshot_id": snapshot_id, "table_name": table, "row_count": len(rows[table][1]),
         "data": data} for table, data in packed.items()])
    if files:
        conn.execute(insert(SnapshotFile), [
            {"snapshot_id": snapshot_id, "sha256": sha256, "size": size}
            for sha256, size in files.items()])
    return {**row, "created_at": row["created_at"]}


# --- take, list, delete ---------------------------------------------------------------------

def create_snapshot(uow: UnitOfWork, team_id: str, name: str | None = None) -> dict[str, Any]:
    """A consistent copy of the team's state: read in one transaction (on PostgreSQL at
    REPEATABLE READ, so every table is read at the same moment; on SQLite the write
    transaction holds the database), written in the same."""
    with uow.write() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        rows = capture(conn, team_id)
        files = _file_sizes(conn, rows)
        stored = _store(conn, team_id, name, migrate.head_revision() or "", rows, files)
    return {k: v for k, v in stored.items() if k != "team_id"}


def _file_sizes(conn: Connection | None, rows: Rows) -> dict[str, int]:
    """The stored files the uploads refer to, and their sizes: each file's, and the email
    bodies their tasks prepend (docs/project-settings.md), whose size is not kept (0 unless the
    body is a file of its own too)."""
    columns, values = rows.get("upload_file", ([], []))
    if not values:
        return {}
    sha, size = columns.index("sha256"), columns.index("file_size")
    sizes = {row[sha]: row[size] for row in values}
    if "body_sha256" in columns:
        body = columns.index("body_sha256")
        for row in values:
            if row[body] is not None:
                sizes.setdefault(row[body], 0)
    return sizes


def list_snapshots(uow: UnitOfWork, team_id: str) -> list[dict[str, Any]]:
    with uow.read() as conn:
        rows = conn.execute(select(Snapshot).where(Snapshot.team_id == team_id)
                            .order_by(Snapshot.created_at, Snapshot.id)).all()
    return [_public(row) for row in rows]


def get_snapshot(uow: UnitOfWork, team_id: str, snapshot_id: str) -> dict[str, Any]:
    with uow.read() as conn:
        return _public(_find(conn, team_id, snapshot_id))


def _find(conn: Connection, team_id: str, snapshot_id: str) -> Any:
    row = None
    if is_lookup_id(snapshot_id):
        row = conn.execute(select(Snapshot).where(Snapshot.id == snapshot_id,
                                                  Snapshot.team_id == team_id)).first()
    if row is None:
        raise NotFound(f"Snapshot {snapshot_id[:64]!r} was not found.")
    return row


def delete_snapshot(uow: UnitOfWork, storage: Storage, team_id: str, snapshot_id: str
                    ) -> dict[str, Any]:
    with uow.write() as conn:
        found = _public(_find(conn, team_id, snapshot_id))
        hashes = list(conn.scalars(select(SnapshotFile.sha256)
                                   .where(SnapshotFile.snapshot_id == snapshot_id)))
        conn.execute(delete(Snapshot).where(Snapshot.id == snapshot_id))
    forget_unreferenced(uow, storage, hashes)
    return found


# --- restore and reset ----------------------------------------------------------------------

def _load(conn: Connection, found: Any) -> Rows:
    parts = conn.execute(select(SnapshotTable.table_name, SnapshotTable.data)
                         .where(SnapshotTable.snapshot_id == found.id)).all()
    rows = {part.table_name: _unpack(part.data) for part in parts}
    return snapshot_file.rows_at_head(found.schema_revision, rows)


def restore_snapshot(uow: UnitOfWork, storage: Storage, team_id: str, snapshot_id: str
                     ) -> dict[str, Any]:
    """The team again exactly as the snapshot saw it, ids included, in one write transaction;
    its keys stay as they are. 409 when another team holds ids the snapshot has (a file
    imported into two teams of one server). Only the rows that differ from the snapshot's are
    written where that applies (state_diff.py): its rows are read and decoded once per
    process."""
    with uow.read() as conn:
        found = _find(conn, team_id, snapshot_id)
    loaded: list[Rows] = []

    def rows() -> Rows:  # read at most once, and only when the prepared rows are not cached
        if not loaded:
            with uow.read() as conn:
                loaded.append(_load(conn, found))
        return loaded[0]

    def ready(conn: Connection) -> state_diff.Prepared | None:
        return state_diff.prepared(conn, found.id, team_id, rows)

    _replace(uow, storage, team_id, rows, ready)
    return _public(found)


def reset_state(uow: UnitOfWork, storage: Storage, team_id: str) -> None:
    """The team empty: no projects, uploads, tasks, connectors, notifications, jobs, faults or
    clock. Its keys and snapshots stay."""
    _replace(uow, storage, team_id, lambda: {})


def _replace(uow: UnitOfWork, storage: Storage, team_id: str, rows: Callable[[], Rows],
             ready: Callable[[Connection], state_diff.Prepared | None] | None = None) -> None:
    prepared = None
    if ready is not None:  # before the write: decoding a snapshot's rows holds nothing
        with uow.read() as conn:
            prepared = ready(conn)
    try:
        with uow.write() as conn:
            before = replace_team_state(conn, team_id, rows, prepared)
    except IntegrityError as exc:
        raise Conflict(
            "Another team holds ids that this snapshot has; nothing was changed.",
            {"reason": "ids_taken"}) from exc
    forget_unreferenced(uow, storage, before)


# --- export and import ----------------------------------------------------------------------

def export_snapshot(uow: UnitOfWork, storage: Storage, team_id: str, snapshot_id: str,
                    out: BinaryIO) -> dict[str, Any]:
    """Write the snapshot as one file to `out`: its rows at its own revision, and its files."""
    with uow.read() as conn:
        found = _find(conn, team_id, snapshot_id)
        parts = conn.execute(select(SnapshotTable.table_name, SnapshotTable.data)
                             .where(SnapshotTable.snapshot_id == snapshot_id)).all()
        hashes = list(conn.scalars(select(SnapshotFile.sha256)
                                   .where(SnapshotFile.snapshot_id == snapshot_id)))
    files = {}
    for sha256 in hashes:
        with storage.open(sha256) as stream:
            files[sha256] = stream.read()
    snapshot_file.write(out, snapshot_file.SnapshotFile(
        schema_revision=found.schema_revision, name=found.name, counts=found.counts,
        rows={part.table_name: _unpack(part.data) for part in parts}, files=files,
        source={"id": found.id, "team_id": team_id,
                "created_at": found.created_at.isoformat()},
    ))
    return _public(found)


def export_bytes(uow: UnitOfWork, storage: Storage, team_id: str, snapshot_id: str) -> bytes:
    out = io.BytesIO()
    export_snapshot(uow, storage, team_id, snapshot_id, out)
    return out.getvalue()


def import_snapshot(uow: UnitOfWork, storage: Storage, team_id: str, data: bytes,
                    name: str | None = None) -> dict[str, Any]:
    """A snapshot of this team made from an exported file, upgraded to this version's schema
    on the way in. 400 for a file that is not a snapshot, truncated, altered or newer; 409
    when another team holds its ids. Nothing is written in either case."""
    parsed = snapshot_file.read(data)
    rows = snapshot_file.upgraded(parsed.schema_revision, parsed.rows)
    missing = set(_hashes(rows)) - set(parsed.files)
    if missing:
        raise snapshot_file.bad_file(
            "altered", f"The snapshot file was altered after export: {len(missing)} of its "
                       "uploads' files are missing from it.")
    with uow.read() as conn:
        _check_ids_free(conn, team_id, rows)
    saved = []
    try:
        for content in parsed.files.values():
            saved.append(storage.save(io.BytesIO(content)).sha256)
        with uow.write() as conn:
            stored = _store(conn, team_id, name or parsed.name, migrate.head_revision() or "",
                            rows, {sha: len(content) for sha, content in parsed.files.items()})
    except BaseException:
        forget_unreferenced(uow, storage, saved)
        raise
    return {k: v for k, v in stored.items() if k != "team_id"}


def _check_ids_free(conn: Connection, team_id: str, rows: Rows) -> None:
    """409 when a row of the file has an id (a primary key or a unique column of text) that a
    row of another team holds. Numbers the database gives (an event's seq) are not ids: a
    restore moves them when taken."""
    found = membership(conn, team_id)
    taken: dict[str, list[str]] = {}
    for t in team_tables():
        columns, values = rows.get(t.name, ([], []))
        if not values:
            continue
        for column in _text_ids(t.table):
            at = columns.index(column.name)
            wanted = [row[at] for row in values]
            for start in range(0, len(wanted), 500):
                clash = list(conn.scalars(select(column).where(
                    column.in_(wanted[start:start + 500]), not_(found[t.name])).limit(5)))
                if clash:
                    taken.setdefault(t.name, []).extend(clash)
    if taken:
        raise Conflict("Another team holds ids that this snapshot file has; nothing was "
                       "imported.", {"reason": "ids_taken", "ids": taken})


def _text_ids(table: Any) -> list[Any]:
    pk = list(table.primary_key.columns)
    candidates = pk if len(pk) == 1 else []
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1:
            candidates.extend(constraint.columns)
    candidates.extend(c for c in table.c if c.unique)
    return [c for c in dict.fromkeys(candidates) if isinstance(c.type, String)]


def counts_of_team(uow: UnitOfWork, team_id: str) -> dict[str, int]:
    """How many rows each table holds for the team (the CLI and the inspector show it)."""
    with uow.read() as conn:
        found = membership(conn, team_id)
        return {t.name: int(conn.scalar(select(func.count()).select_from(t.table)
                                         .where(found[t.name])) or 0) for t in team_tables()}
