"""A team's state as rows: which tables hold it, reading them, and putting them back
(docs/snapshots.md). The set of tables is derived from the models' metadata, never listed by
hand: every table with a foreign-key path to `team` belongs to a team, unless `EXCLUDED` says
why not (tests/unit/test_snapshot_tables.py holds every table to one or the other).

Rows travel as JSON-ready lists: a datetime as ISO 8601, an enum by name, bytes as base64.
Putting a team's rows back (`replace_team_state`) is one write transaction of set-based
statements: per table one DELETE of the team's rows, children first, then one INSERT of many
rows, parents first.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Enum,
    LargeBinary,
    Table,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

from ..domain.job_kinds import DELIVER
from ..store.models import ApiKey, ApiKeyProject, Base, Team, UTCDateTime

TEAM: Table = Team.__table__  # type: ignore[assignment]
KEY_PROJECTS: Table = ApiKeyProject.__table__  # type: ignore[assignment]

# Tables a team's state leaves out, and why. A new table with a path to `team` must be either
# covered or named here (tests/unit/test_snapshot_tables.py fails otherwise).
EXCLUDED: dict[str, str] = {
    "api_key": "keys stay as they are on restore and reset",
    "api_key_project": "a key's projects: saved beside the state, given back to keys that "
                       "still exist, for the projects that exist after a restore",
    "server_secret": "the server's own secrets, no team's",
    "snapshot": "snapshots are not part of the state they save",
    "snapshot_table": "a snapshot's rows",
    "snapshot_file": "a snapshot's files",
}
# Columns of `team` that say which team it is: restore keeps them (the rest, such as the
# count of fault rules, comes back from the snapshot).
TEAM_IDENTITY = ("id", "name", "created_at")


@dataclass(frozen=True)
class JsonReference:
    """A reference held inside a JSON column, which no foreign key can state: a delivery job
    names its notification in its payload."""

    table: str
    column: str
    key: str
    target: str  # "table.column"
    where_kind: str | None = None


JSON_REFERENCES = (JsonReference("job", "payload", "notification", "notification.seq", DELIVER),)
# Set on restore: a job that was running when the snapshot was taken is pending again.
ON_RESTORE: dict[str, dict[str, Any]] = {"job": {"leased_until": None, "lease_token": None}}


@dataclass
class TeamTable:
    table: Table
    # How its rows are found: a column naming the team, or one naming a row of a covered table.
    column: Column[Any]
    parent: TeamTable | None = None
    json_refs: list[JsonReference] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.table.name


@cache
def team_tables() -> tuple[TeamTable, ...]:
    """Every table of a team's state, parents before children (the order to insert in)."""
    covered: dict[str, TeamTable] = {}
    depth: dict[str, int] = {TEAM.name: 0}
    for table in Base.metadata.sorted_tables:
        if table.name == TEAM.name or table.name in EXCLUDED:
            continue
        best: tuple[int, int, Column[Any], TeamTable | None] | None = None
        for fk in table.foreign_keys:
            referred = fk.column.table.name
            if referred != TEAM.name and referred not in covered:
                continue
            # Prefer the path nearest the team, then a column that is never null.
            rank = (depth[referred], 1 if fk.parent.nullable else 0)
            if best is None or rank < best[:2]:
                best = (*rank, fk.parent, covered.get(referred))
        if best is None:
            continue
        covered[table.name] = TeamTable(table, best[2], best[3])
        depth[table.name] = best[0] + 1
    for ref in JSON_REFERENCES:
        covered[ref.table].json_refs.append(ref)
    return tuple(covered.values())


def covered_names() -> set[str]:
    return {t.name for t in team_tables()}


def membership(conn: Connection, team_id: str) -> dict[str, ColumnElement[bool]]:
    """Per table, the condition that picks the team's rows. Subqueries, except for references
    inside JSON (read here, once)."""
    found: dict[str, ColumnElement[bool]] = {}
    for t in team_tables():
        condition = _by_column(t, team_id, found)
        for ref in t.json_refs:
            condition = or_(condition, _by_json(conn, t.table, ref, found))
        found[t.name] = condition
    return found


def _by_column(t: TeamTable, team_id: str,
               found: dict[str, ColumnElement[bool]]) -> ColumnElement[bool]:
    if t.parent is None:
        return t.column == team_id
    fk = next(iter(t.column.foreign_keys))
    return t.column.in_(select(fk.column).where(found[t.parent.name]))


def _by_json(conn: Connection, table: Table, ref: JsonReference,
             found: dict[str, ColumnElement[bool]]) -> ColumnElement[bool]:
    target_table, target_column = ref.target.split(".")
    targets = set(conn.scalars(select(Base.metadata.tables[target_table].c[target_column])
                               .where(found[target_table])))
    if not targets:
        return false()
    key = next(iter(table.primary_key.columns))
    query = select(key, table.c[ref.column])
    if ref.where_kind is not None:
        query = query.where(table.c.kind == ref.where_kind)
    ids = [row[0] for row in conn.execute(query)
           if isinstance(row[1], dict) and row[1].get(ref.key) in targets]
    return key.in_(ids) if ids else false()


# --- rows as JSON ---------------------------------------------------------------------------

Rows = dict[str, tuple[list[str], list[list[Any]]]]
"""table name -> (column names, rows as lists of JSON-ready values)"""


def encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def _base(type_: TypeEngine[Any]) -> TypeEngine[Any]:
    return type_.impl if isinstance(type_, TypeDecorator) else type_  # type: ignore[return-value]


def _encoder(type_: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How a column's values become JSON-ready; None when they already are (most columns:
    worked out once per column, not once per value)."""
    base = _base(type_)
    if isinstance(base, DateTime | Enum | LargeBinary):
        return encode
    return None


def _decoder(type_: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    """How a column's JSON-ready values become what it binds; None when they already are."""
    base = _base(type_)
    if isinstance(base, DateTime):
        aware = isinstance(type_, UTCDateTime)
        return lambda value: _moment(value, aware)
    if isinstance(base, LargeBinary):
        return lambda value: base64.b64decode(value) if isinstance(value, str) else value
    return None


def _moment(value: Any, aware: bool) -> Any:
    if not isinstance(value, str):
        return value
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment if aware else moment.astimezone(UTC).replace(tzinfo=None)  # plain: naive UTC


def decode(type_: TypeEngine[Any], value: Any) -> Any:
    """A JSON-ready value back into what a column of `type_` binds."""
    decoder = _decoder(type_)
    return value if value is None or decoder is None else decoder(value)


def read_rows(conn: Connection, table: Table, condition: ColumnElement[bool] | None = None
              ) -> tuple[list[str], list[list[Any]]]:
    columns = [c.name for c in table.c]
    query = select(table)
    if condition is not None:
        query = query.where(condition)
    order = list(table.primary_key.columns)
    rows = conn.execute(query.order_by(*order)).all()
    encoders = [(i, f) for i, c in enumerate(table.c) if (f := _encoder(c.type)) is not None]
    if not encoders:
        return columns, [list(row) for row in rows]
    encoded = []
    for row in rows:
        values = list(row)
        for i, encoder in encoders:
            if values[i] is not None:
                values[i] = encoder(values[i])
        encoded.append(values)
    return columns, encoded


def capture(conn: Connection, team_id: str) -> Rows:
    """The team's rows, its own `team` row first. Run inside one transaction to be consistent."""
    found = membership(conn, team_id)
    rows: Rows = {TEAM.name: read_rows(conn, TEAM, TEAM.c.id == team_id)}
    for t in team_tables():
        rows[t.name] = read_rows(conn, t.table, found[t.name])
    # Which of the team's keys reached which project: given back to the keys that still exist.
    rows[KEY_PROJECTS.name] = read_rows(conn, KEY_PROJECTS, KEY_PROJECTS.c.key_id.in_(
        select(ApiKey.id).where(ApiKey.team_id == team_id)))
    return rows


def as_dicts(table: Table, columns: list[str], rows: Iterable[list[Any]]) -> list[dict[str, Any]]:
    decoders = [(name, f) for name in columns
                if (f := _decoder(table.c[name].type)) is not None]
    width = len(columns)
    loaded = []
    for row in rows:
        if len(row) != width:
            raise ValueError(f"a row of {table.name} has {len(row)} values, not {width}")
        values = dict(zip(columns, row, strict=True))
        for name, decoder in decoders:
            if values[name] is not None:
                values[name] = decoder(values[name])
        loaded.append(values)
    return loaded


# --- putting rows back ----------------------------------------------------------------------

class Differences(Protocol):
    """A snapshot's rows prepared for a restore that writes only what differs
    (state_diff.Prepared)."""

    @property
    def around(self) -> Rows:
        """The `team` row and the keys' projects, as taken."""

    def applies(self, conn: Connection, found: dict[str, ColumnElement[bool]]) -> bool:
        """Whether it may run here (no other team holds the rows' numbers)."""

    def replace(self, conn: Connection, found: dict[str, ColumnElement[bool]]) -> set[str]:
        """Write what differs; the projects' ids after."""


def replace_team_state(conn: Connection, team_id: str, rows: Rows | Callable[[], Rows],
                       prepared: Differences | None = None) -> list[str]:
    """Make the team's rows exactly `rows` (at head; or what `rows()` answers, asked only
    when needed), inside the caller's write transaction. Keys stay. A key reaches, of the
    projects after: those it reaches now, those it reached at the snapshot, and all of them
    when it reached all the team's projects now. Answers the hashes of the files the team's
    uploads referred to before, for the caller to forget when unused. `prepared`, when given,
    is the same rows prepared for comparing (state_diff.py): only the rows that differ are
    then written, unless another team holds numbers they have."""
    tables = team_tables()
    if conn.dialect.name == "postgresql":
        # Writes of these tables wait for the restore: what races it lands before or after it,
        # never inside (on SQLite the write transaction already holds the database).
        names = ", ".join(t.name for t in tables) + f", {KEY_PROJECTS.name}"
        conn.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    found = membership(conn, team_id)
    upload_file = Base.metadata.tables["upload_file"]
    old_hashes = [h for row in conn.execute(
        select(upload_file.c.sha256, upload_file.c.body_sha256).where(found["upload_file"]))
        for h in row if h is not None]
    keys = set(conn.scalars(select(ApiKey.id).where(ApiKey.team_id == team_id)))
    memberships = {(r.key_id, r.project_id) for r in conn.execute(
        select(KEY_PROJECTS.c.key_id, KEY_PROJECTS.c.project_id)
        .where(KEY_PROJECTS.c.key_id.in_(keys)))}
    # A key that reached every project of the team reaches every project after it too (a
    # file from another server names keys this one does not have).
    projects_before = set(conn.scalars(select(Base.metadata.tables["project"].c.id)
                                       .where(found["project"])))
    reached: dict[str, set[str]] = {}
    for key_id, project_id in memberships:
        reached.setdefault(key_id, set()).add(project_id)
    team_wide = [k for k, p in reached.items() if projects_before and p >= projects_before]
    diff = prepared if prepared is not None and prepared.applies(conn, found) else None
    if diff is not None:
        given: Rows = diff.around  # the team's row and its keys' projects; the rest is
    else:                              # compared, table by table
        given = rows() if callable(rows) else rows
    if KEY_PROJECTS.name in given:
        columns, values = given[KEY_PROJECTS.name]
        memberships |= {(r["key_id"], r["project_id"])
                        for r in as_dicts(KEY_PROJECTS, columns, values) if r["key_id"] in keys}
    if diff is not None:
        projects = diff.replace(conn, found)
        # The kept projects kept their keys' rows: all of them are written again below.
        conn.execute(delete(KEY_PROJECTS).where(KEY_PROJECTS.c.key_id.in_(keys)))
    else:
        for t in reversed(tables):
            conn.execute(delete(t.table).where(found[t.name]))
        loaded = {t.name: _loaded(t, team_id, given) for t in tables}
        _renumber(conn, tables, loaded)
        for t in tables:
            if loaded[t.name]:
                insert_many(conn, t.table, loaded[t.name])
        projects = {r["id"] for r in loaded.get("project", [])}
    memberships |= {(key_id, project_id) for key_id in team_wide for project_id in projects}
    kept = [{"key_id": k, "project_id": p} for k, p in sorted(memberships) if p in projects]
    if kept:
        conn.execute(insert(KEY_PROJECTS), kept)
    conn.execute(update(TEAM).where(TEAM.c.id == team_id).values(**_team_values(given)))
    _advance_sequences(conn, tables)
    return old_hashes


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """One INSERT of many rows, each value through its column's own bind processor (what
    SQLAlchemy does), then straight to the driver's executemany: without SQLAlchemy's work per
    row and value, which is most of a restore's time."""
    columns = list(rows[0])
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=columns)
    dialect = conn.dialect
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                  for name in columns]
    steps = [(name, p) for name, p in zip(columns, processors, strict=True) if p is not None]
    for row in rows:
        for name, process in steps:
            row[name] = process(row[name])
    if compiled.positiontup is not None:  # qmark (SQLite): tuples in the statement's order
        order = [compiled.binds[key].key for key in compiled.positiontup]
        params: list[Any] = [tuple(row[name] for name in order) for row in rows]
    else:  # pyformat (psycopg): dicts by name
        params = rows
    conn.exec_driver_sql(str(compiled), params)


def _loaded(t: TeamTable, team_id: str, rows: Rows) -> list[dict[str, Any]]:
    if t.name not in rows:
        return []
    columns, values = rows[t.name]
    loaded = as_dicts(t.table, columns, values)
    team_columns = [fk.parent.name for fk in t.table.foreign_keys
                    if fk.column.table.name == TEAM.name]
    changes = ON_RESTORE.get(t.name, {})
    for row in loaded:
        for name in team_columns:
            row[name] = team_id  # a file from another team (or server) becomes this team's
        row.update(changes)
    return loaded


def _team_values(rows: Rows) -> dict[str, Any]:
    """The team row's columns that restore brings back; on reset (no row), their defaults."""
    if TEAM.name in rows and rows[TEAM.name][1]:
        columns, [values] = rows[TEAM.name]
        [row] = as_dicts(TEAM, columns, [values])
        return {k: v for k, v in row.items() if k not in TEAM_IDENTITY}
    return {c.name: c.default.arg for c in TEAM.c  # type: ignore[attr-defined]
            if c.name not in TEAM_IDENTITY and c.default is not None
            and not callable(c.default.arg)}  # type: ignore[attr-defined]


def _renumber(conn: Connection, tables: tuple[TeamTable, ...],
              loaded: dict[str, list[dict[str, Any]]]) -> None:
    """Integer keys the database numbers (an event's seq, a job's id) may have been given to
    another team's rows since (SQLite reuses a deleted highest number; a file comes from
    another server): when any of the team's numbers is taken, its rows are moved above the
    highest in use, keeping their order, with every reference to them."""
    for t in tables:
        key = t.table.autoincrement_column
        rows = loaded[t.name]
        if key is None or not rows:
            continue
        wanted = {r[key.name] for r in rows}
        low, high = min(wanted), max(wanted)
        # Other teams' numbers within the range (few: numbers are handed out in order).
        if wanted.isdisjoint(conn.scalars(select(key).where(key.between(low, high)))):
            continue
        offset = int(conn.scalar(select(func.max(key))) or 0) + 1 - low
        for row in rows:
            row[key.name] += offset
        target = f"{t.name}.{key.name}"
        for other in tables:
            for fk in other.table.foreign_keys:
                if fk.column is key:
                    for row in loaded[other.name]:
                        if row[fk.parent.name] is not None:
                            row[fk.parent.name] += offset
            for ref in other.json_refs:
                if ref.target == target:
                    for row in loaded[other.name]:
                        payload = row.get(ref.column)
                        if isinstance(payload, dict) and isinstance(payload.get(ref.key), int):
                            row[ref.column] = {**payload, ref.key: payload[ref.key] + offset}


def _advance_sequences(conn: Connection, tables: tuple[TeamTable, ...]) -> None:
    """PostgreSQL's sequences do not follow explicit values: move each past the highest row,
    never back (SQLite numbers from the highest row by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for t in tables:
        key = t.table.autoincrement_column
        if key is None:
            continue
        sequence = conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                               {"t": t.name, "c": key.name})
        if sequence is None:
            continue
        highest = conn.scalar(select(func.max(key)))
        if highest is None:
            continue
        last = conn.scalar(text(f"SELECT last_value FROM {sequence}"))
        if highest > (last or 0):
            conn.execute(text("SELECT setval(CAST(:s AS regclass), :v)"),
                         {"s": sequence, "v": highest})
