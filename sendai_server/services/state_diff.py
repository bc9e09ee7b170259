"""Restoring a team's state by its differences (docs/snapshots.md): what a restore of an
unchanged row costs is a read, not a DELETE and an INSERT.

A snapshot's rows are prepared once per process, team and database kind, as the values the
driver binds (each column's decoder, then its bind processor: what `team_state.insert_many`
sends) and kept in a small cache: a snapshot never changes once taken, and its id is never
given again. A restore then reads the team's rows as the database holds them and compares:

- a row is kept when its stored values equal the snapshot's, and every row it refers to
  (through a foreign key to a table of the state) is kept too, so no cascade and no
  SET NULL can reach it;
- every other row of the team is deleted (children first), and every other row of the
  snapshot inserted (parents first): what the full restore does, on fewer rows.

Equal stored values are the same row: a value that reads back other than it was bound (a JSON
text written by other means) only makes its row rewritten. The comparison is made on SQLite,
whose stored values are what was bound; on PostgreSQL the full restore runs (its driver
answers parsed values, which would rewrite most rows anyway).
"""

from __future__ import annotations

import operator
import threading
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, insert, not_, select, tuple_

from .team_state import (
    KEY_PROJECTS,
    ON_RESTORE,
    TEAM,
    Rows,
    TeamTable,
    decode,
    team_tables,
)

# Prepared snapshots kept per process, at most this many rows in all (the plugin restores the
# same few states again and again; each row costs a few hundred bytes).
CACHE_ROWS = 200_000
_CHUNK = 500  # ids per DELETE ... IN (...)


@dataclass(frozen=True)
class PreparedTable:
    rows: list[tuple[Any, ...]]  # in the table's column order, as bound
    key: list[int]  # the primary key's positions
    refs: list[tuple[int, str]]  # (a foreign key's position, the covered table it refers to)
    row_set: frozenset[tuple[Any, ...]] = frozenset()
    keys: frozenset[Any] = frozenset()

    @property
    def key_of(self) -> Callable[[tuple[Any, ...]], Any]:
        return operator.itemgetter(*self.key)


@dataclass(frozen=True)
class Prepared:
    tables: dict[str, PreparedTable]  # every table of the state
    around: Rows  # the snapshot's `team` row and its keys' projects, as taken

    def applies(self, conn: Connection, found: dict[str, ColumnElement[bool]]) -> bool:
        return not numbers_taken(conn, found, self.tables)

    def replace(self, conn: Connection, found: dict[str, ColumnElement[bool]]) -> set[str]:
        return replace_changed(conn, found, self.tables)


_AROUND = (TEAM.name, KEY_PROJECTS.name)

_cache: OrderedDict[tuple[str, str, str], Prepared] = OrderedDict()
_cache_lock = threading.Lock()


def prepared(conn: Connection, snapshot_id: str, team_id: str, rows: Callable[[], Rows]
             ) -> Prepared | None:
    """The snapshot's rows prepared for this team on this database, from the cache or made
    from `rows()`; None when the comparison does not apply (not SQLite, or rows whose columns
    are not the table's)."""
    if conn.dialect.name != "sqlite":
        return None
    key = (snapshot_id, team_id, conn.dialect.name)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    made = _prepare(conn, team_id, rows())
    if made is None:
        return None
    with _cache_lock:
        _cache[key] = made
        total = sum(len(t.rows) for p in _cache.values() for t in p.tables.values())
        while len(_cache) > 1 and total > CACHE_ROWS:
            _, dropped = _cache.popitem(last=False)
            total -= sum(len(t.rows) for t in dropped.tables.values())
    return made


def _prepare(conn: Connection, team_id: str, rows: Rows) -> Prepared | None:
    dialect = conn.dialect
    covered = {t.name for t in team_tables()}
    made: dict[str, PreparedTable] = {}
    for t in team_tables():
        table = t.table
        names = [c.name for c in table.c]
        columns, values = rows.get(t.name, (names, []))
        if sorted(columns) != sorted(names):
            return None
        at = {name: columns.index(name) for name in names}
        team_columns = {fk.parent.name for fk in table.foreign_keys
                        if fk.column.table.name == TEAM.name}
        changes = ON_RESTORE.get(t.name, {})
        steps = []
        for column in table.c:
            bind = column.type.dialect_impl(dialect).bind_processor(dialect)
            steps.append((at[column.name], column.name in team_columns, column.name in changes,
                          changes.get(column.name), column.type, bind))
        bound = []
        for row in values:
            out = []
            for position, is_team, is_changed, change, type_, bind in steps:
                value = (team_id if is_team else change if is_changed
                         else decode(type_, row[position]))
                out.append(bind(value) if bind is not None and value is not None else value)
            bound.append(tuple(out))
        refs = [(names.index(fk.parent.name), fk.column.table.name) for fk in table.foreign_keys
                if fk.column.table.name in covered]
        key = [names.index(c.name) for c in table.primary_key.columns]
        made[t.name] = PreparedTable(bound, key, refs, frozenset(bound),
                                     frozenset(map(operator.itemgetter(*key), bound)))
    return Prepared(made, {name: rows[name] for name in _AROUND if name in rows})


def numbers_taken(conn: Connection, found: dict[str, ColumnElement[bool]],
                  ready: dict[str, PreparedTable]) -> bool:
    """Whether another team's rows hold numbers (an event's seq, a job's id) the snapshot's
    rows have: then the full restore, which moves them, runs instead."""
    for t in team_tables():
        column = t.table.autoincrement_column
        rows = ready[t.name].rows
        if column is None or not rows:
            continue
        at = [c.name for c in t.table.c].index(column.name)
        numbers = {row[at] for row in rows}
        # Other teams' numbers within the range (few: numbers are handed out in order).
        if not numbers.isdisjoint(conn.scalars(select(column).where(
                column.between(min(numbers), max(numbers)), not_(found[t.name])))):
            return True
    return False


def replace_changed(conn: Connection, found: dict[str, ColumnElement[bool]],
                    ready: dict[str, PreparedTable]) -> set[str]:
    """Make the team's rows of every table of the state exactly the prepared ones, touching
    only the rows that differ (inside the caller's write transaction); the projects' ids
    after."""
    tables = team_tables()
    changed: dict[str, set[Any]] = {}  # the snapshot's keys whose rows are written again
    gone: dict[str, set[Any]] = {}
    new: dict[str, list[tuple[Any, ...]]] = {}
    for t in tables:  # parents first: a row is kept only when what it refers to is
        want = ready[t.name]
        key_of = want.key_of
        current = _stored(conn, t.table, found[t.name])
        same: AbstractSet[tuple[Any, ...]] = want.row_set.intersection(current)
        for at, parent in want.refs:
            if changed[parent]:
                same = {row for row in same if row[at] not in changed[parent]}
        if len(same) == len(current) == len(want.rows):  # nothing of the table changed
            changed[t.name], gone[t.name], new[t.name] = set(), set(), []
            continue
        kept = set(map(key_of, same))
        changed[t.name] = set(want.keys - kept)
        gone[t.name] = set(map(key_of, current)) - kept
        new[t.name] = [row for row in want.rows if row not in same] if changed[t.name] else []
    for t in reversed(tables):
        _delete(conn, t, sorted(gone[t.name]))
    for t in tables:
        if new[t.name]:
            _insert(conn, t.table, new[t.name])
    return set(ready["project"].keys)


def _stored(conn: Connection, table: Table, condition: ColumnElement[bool]
            ) -> list[tuple[Any, ...]]:
    """The team's rows of `table` as stored: the driver's own tuples, no result processing."""
    compiled = select(table).where(condition).compile(
        dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    assert compiled.positiontup is not None  # the comparison runs on SQLite only
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), tuple(params[name] for name in compiled.positiontup))
        return cursor.fetchall()
    finally:
        cursor.close()


def _delete(conn: Connection, t: TeamTable, keys: list[Any]) -> None:
    if not keys:
        return
    columns = list(t.table.primary_key.columns)
    target = columns[0] if len(columns) == 1 else tuple_(*columns)
    for start in range(0, len(keys), _CHUNK):
        conn.execute(delete(t.table).where(target.in_(keys[start:start + _CHUNK])))


def _insert(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """One INSERT of many rows given in the table's column order (qmark: SQLite's)."""
    names = [c.name for c in table.c]
    compiled = insert(table).compile(dialect=conn.dialect, column_keys=names)
    assert compiled.positiontup is not None  # the comparison runs on SQLite only
    order = [names.index(compiled.binds[key].key) for key in compiled.positiontup]
    if order != list(range(len(names))):
        rows = [tuple(row[i] for i in order) for row in rows]
    conn.exec_driver_sql(str(compiled), rows)
