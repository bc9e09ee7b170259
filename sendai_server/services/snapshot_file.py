"""A snapshot as one file (`application/vnd.sendai.snapshot`, docs/snapshots.md), and rows of
an older schema brought up to this version's.

The file is a ZIP archive: first `mimetype` (stored, as EPUB and OpenDocument do, so the file
says what it is in its first bytes), then `manifest.json` (the schema revision, the snapshot's
name and counts, the SHA-256 of every other member), `tables/<table>.json` (`{"columns",
"rows"}`) and `files/<sha256>` (the stored files' bytes). Reading checks every member against
the manifest: a file changed after export is refused as altered.

Rows written at an older revision are upgraded by the migrations themselves (Alembic's, the
one place that knows how): loaded into a scratch SQLite database built at their revision,
migrated to head, read back.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Connection, MetaData, create_engine, func, insert, select

from ..domain.errors import ValidationError
from ..store import migrate
from ..store.models import Base
from .team_state import EXCLUDED, KEY_PROJECTS, TEAM, Rows, as_dicts, capture

MEDIA_TYPE = "application/vnd.sendai.snapshot"
FORMAT = 1
_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class SnapshotFile:
    schema_revision: str
    name: str | None
    counts: dict[str, int]
    rows: Rows
    files: dict[str, bytes]  # sha256 -> bytes
    source: dict[str, Any]  # the snapshot it was exported from: id, team_id, created_at


def bad_file(reason: str, message: str) -> ValidationError:
    """400 validation_error naming what is wrong with the file (`details.reason`)."""
    return ValidationError(message, {"fields": {"file": [message]}, "reason": reason})


# --- writing --------------------------------------------------------------------------------

def write(out: BinaryIO, snapshot: SnapshotFile) -> None:
    members: dict[str, bytes] = {}
    for table, (columns, rows) in snapshot.rows.items():
        members[f"tables/{table}.json"] = json.dumps(
            {"columns": columns, "rows": rows}, separators=(",", ":")).encode()
    for sha256, data in snapshot.files.items():
        members[f"files/{sha256}"] = data
    manifest = {
        "format": FORMAT,
        "media_type": MEDIA_TYPE,
        "schema_revision": snapshot.schema_revision,
        "name": snapshot.name,
        "counts": snapshot.counts,
        "source": snapshot.source,
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), MEDIA_TYPE,
                         compress_type=zipfile.ZIP_STORED)
        archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        for name, data in members.items():
            archive.writestr(name, data)


# --- reading --------------------------------------------------------------------------------

def read(data: bytes) -> SnapshotFile:
    """The file's contents, checked; ValidationError (with `details.reason`: not_a_snapshot,
    truncated, altered, newer_version) when they cannot be trusted. Rows stay at the file's
    revision (see `rows_at_head`)."""
    if not data.startswith(_ZIP_MAGIC):
        raise bad_file("not_a_snapshot", "The file is not a sendai-server snapshot.")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise bad_file("truncated",
                       "The snapshot file is truncated: its end (the archive's index) is "
                       "missing.") from exc
    with archive:
        names = set(archive.namelist())
        if "mimetype" not in names or _member(archive, "mimetype") != MEDIA_TYPE.encode():
            raise bad_file("not_a_snapshot", "The file is not a sendai-server snapshot.")
        manifest = _manifest(archive)
        if manifest.get("format") != FORMAT and isinstance(manifest.get("format"), int) \
                and manifest["format"] > FORMAT:
            raise _newer(f"format {manifest['format']}")
        revision = manifest.get("schema_revision")
        if not isinstance(revision, str) or revision not in migrate.revisions():
            raise _newer(f"schema revision {str(revision)[:64]!r}")
        members = manifest.get("members")
        if not isinstance(members, dict) or set(members) != names - {"mimetype", "manifest.json"}:
            raise _altered("its members are not the ones its manifest lists")
        contents = {}
        for name, digest in members.items():
            content = _member(archive, name)
            if hashlib.sha256(content).hexdigest() != digest:
                raise _altered(f"{name} does not match its checksum")
            contents[name] = content
    return _parsed(manifest, revision, contents)


def _parsed(manifest: dict[str, Any], revision: str, contents: dict[str, bytes]
            ) -> SnapshotFile:
    rows: Rows = {}
    files: dict[str, bytes] = {}
    for name, content in contents.items():
        if name.startswith("files/"):
            sha256 = name.removeprefix("files/")
            if hashlib.sha256(content).hexdigest() != sha256:
                raise _altered(f"{name} does not hold the bytes its name says")
            files[sha256] = content
        elif name.startswith("tables/") and name.endswith(".json"):
            try:
                table = json.loads(content)
                columns, values = table["columns"], table["rows"]
                assert isinstance(columns, list) and isinstance(values, list)
            except (ValueError, KeyError, TypeError, AssertionError) as exc:
                raise _altered(f"{name} is not a table of rows") from exc
            rows[name.removeprefix("tables/").removesuffix(".json")] = (columns, values)
        else:
            raise _altered(f"it holds an unknown member {name[:100]!r}")
    counts, source = manifest.get("counts"), manifest.get("source")
    return SnapshotFile(
        schema_revision=revision, name=_text(manifest.get("name")),
        counts=counts if isinstance(counts, dict) else {}, rows=rows, files=files,
        source=source if isinstance(source, dict) else {},
    )


def _text(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) else None


def _member(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:  # CRC or deflate stream broken
        raise _altered(f"{name} is damaged") from exc
    except Exception as exc:  # zlib.error and friends: bytes changed inside a member
        raise _altered(f"{name} is damaged") from exc


def _manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest = json.loads(_member(archive, "manifest.json"))
    except (KeyError, ValueError) as exc:
        raise _altered("its manifest is missing or not JSON") from exc
    if not isinstance(manifest, dict):
        raise _altered("its manifest is not a JSON object")
    return manifest


def _altered(why: str) -> ValidationError:
    return bad_file("altered", f"The snapshot file was altered after export: {why}.")


def _newer(what: str) -> ValidationError:
    return bad_file(
        "newer_version",
        f"The snapshot file was written by a newer version of sendai-server ({what}, which "
        f"this version does not know; its newest is {migrate.head_revision()}): upgrade "
        "sendai-server to import it.")


# --- rows of an older revision --------------------------------------------------------------

def rows_at_head(revision: str, rows: Rows) -> Rows:
    """`rows` of a stored snapshot, written at `revision`, as they are at this version's head."""
    if revision == migrate.head_revision():
        return rows
    return upgraded(revision, rows)


def upgraded(revision: str, rows: Rows) -> Rows:
    """`rows` from a file, written at `revision`: checked by loading them into a database of
    their own revision, then migrated to head and read back. ValidationError (altered) for rows
    their revision's schema does not hold."""
    _check_tables(rows)
    rows = dict(rows)
    # Keys' projects: pairs of ids, which no migration changes; keys of another server are
    # dropped on restore (only this team's keys get projects back).
    memberships = rows.pop(KEY_PROJECTS.name, None)
    upgraded = _through_migrations(revision, rows)
    if memberships is not None:
        upgraded[KEY_PROJECTS.name] = memberships
    return upgraded


def _through_migrations(revision: str, rows: Rows) -> Rows:
    with _scratch_database() as url:
        migrate.upgrade(url, revision)
        engine = create_engine(url)
        try:
            at_revision = MetaData()
            at_revision.reflect(engine)
            with engine.begin() as conn:
                for name, (columns, values) in rows.items():
                    table = at_revision.tables.get(name)
                    if table is None or not set(columns) <= set(table.c.keys()):
                        raise _altered(f"table {name[:64]!r} does not fit revision {revision}")
                    if values:
                        conn.execute(insert(table), as_dicts(table, columns, values))
        except ValidationError:
            raise
        except Exception as exc:  # rows the schema of their own revision refuses
            raise _altered(f"its rows do not fit revision {revision}") from exc
        finally:
            engine.dispose()
        migrate.upgrade(url, "head")
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return _team_rows(conn)
        finally:
            engine.dispose()


def _team_rows(conn: Connection) -> Rows:
    """The scratch database's one team, every row of which must belong to it."""
    teams = list(conn.scalars(select(TEAM.c.id)))
    if len(teams) != 1:
        raise _altered(f"it holds {len(teams)} teams, not one")
    rows = capture(conn, teams[0])
    for name, (_columns, values) in rows.items():
        total = conn.scalar(select(func.count()).select_from(Base.metadata.tables[name]))
        if total != len(values):
            raise _altered(f"{name} holds rows that belong to no project of its team")
    return rows


def _check_tables(rows: Rows) -> None:
    for name, (columns, values) in rows.items():
        if (name in EXCLUDED and name != KEY_PROJECTS.name) or name == "alembic_version":
            raise _altered(f"it holds a table {name[:64]!r} that is not a team's")
        if not all(isinstance(c, str) for c in columns):
            raise _altered(f"the columns of {name} are not names")
        if any(not isinstance(v, list) or len(v) != len(columns) for v in values):
            raise _altered(f"a row of {name} does not have its table's columns")


@contextmanager
def _scratch_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sendai-snapshot-") as folder:
        yield f"sqlite:///{Path(folder) / 'scratch.db'}"
