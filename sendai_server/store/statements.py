"""The hot path's statements: SQLAlchemy Core, compiled once per dialect, run on the driver.

Every GET and every task change runs the same few statements (the key lookup, the task row,
its children, the UPDATE and the event INSERT). Through SQLAlchemy's execution layer each
costs several times the driver call itself (cache-key hashing of the statement, per-execution
context, result objects). A `Statement` keeps the Core construct as the one definition, and
decides once per dialect its SQL text, how each parameter is bound and how each result column
is converted, with the types' own processors (the same conversions SQLAlchemy would make);
then each execution is one driver call. On PostgreSQL the statement is prepared on first use
and stays prepared on the connection (no ROLLBACK ever drops it: see db.py).

Statements run on the unit of work's connection (`uow.read()` / `uow.write()` give it), so
they share its transaction and its error handling.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ClauseElement

Row = tuple[Any, ...]
_Processor = Callable[[Any], Any] | None


@dataclass
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order, for qmark drivers
    # The positional arguments from the parameters: a tuple, whatever the number of names.
    arguments: Callable[[Mapping[str, Any]], tuple[Any, ...]] | None
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # names whose values need converting
    # The values the statement carries itself (`Folder.name == "Inbox"`), converted once.
    constants: dict[str, Any]
    prepare: bool
    # Columns whose values need converting; decided on the first result, whose description
    # gives the driver's column types (PostgreSQL's numeric processors depend on them).
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None


class Statement:
    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self.columns: tuple[str, ...] = tuple(column.key for column in _columns(statement))
        self._by_dialect: dict[int, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled: Any = self.statement.compile(dialect=dialect)
        binds, constants = [], {}
        for name, bind in compiled.binds.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.value is not None and bind.callable is None:  # a constant of the statement
                constants[name] = process(bind.value) if process is not None else bind.value
            elif process is not None:
                binds.append((name, process))
        positional = tuple(compiled.positiontup) if compiled.positional else None
        return _Compiled(
            sql=compiled.string, positional=positional, arguments=_arguments(positional),
            binds=tuple(binds),
            constants=constants, prepare=dialect.name == "postgresql",
        )

    def _result_processors(
        self, dialect: Dialect, description: Any
    ) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
        results = []
        columns = _columns(self.statement)
        for index, (column, described) in enumerate(zip(columns, description, strict=True)):
            process = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            if process is not None:
                results.append((index, process))
        return tuple(results)

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(id(dialect))
        if compiled is None:
            compiled = self._by_dialect[id(dialect)] = self._compile(dialect)
        return compiled

    def _run(self, conn: Connection, params: Mapping[str, Any]) -> Any:
        compiled = self._compiled(conn.dialect)
        if compiled.binds or compiled.constants:
            params = {**compiled.constants, **params}
            for name, process in compiled.binds:
                if name in params:
                    params[name] = process(params[name])
        args: Any = params if compiled.arguments is None else compiled.arguments(params)
        driver: Any = conn.connection.driver_connection
        if compiled.prepare:
            return driver.execute(compiled.sql, args, prepare=True)
        return driver.execute(compiled.sql, args)

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        return int(self._run(conn, params).rowcount)

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Row]:
        """Run a query; its rows as tuples of converted values, in `columns` order."""
        cursor = self._run(conn, params)
        rows = cursor.fetchall()
        compiled = self._compiled(conn.dialect)
        results = compiled.results
        if results is None:
            results = compiled.results = self._result_processors(
                conn.dialect, cursor.description
            )
        if not results or not rows:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, process in results:
                values[index] = process(values[index])
            converted.append(tuple(values))
        return converted

    def dicts(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        columns = self.columns
        return [dict(zip(columns, row, strict=True)) for row in self.rows(conn, params)]


def _arguments(
    positional: tuple[str, ...] | None,
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]] | None:
    if positional is None:
        return None
    if len(positional) == 1:
        name = positional[0]
        return lambda params: (params[name],)
    if not positional:
        return lambda _params: ()
    return itemgetter(*positional)  # a tuple for two or more


def _columns(statement: ClauseElement) -> Any:
    """A query's columns, or what an INSERT, UPDATE or DELETE returns (RETURNING)."""
    selected = getattr(statement, "selected_columns", None)
    return selected if selected is not None else getattr(statement, "exported_columns", ())


def first(rows: Sequence[Row]) -> Row | None:
    return rows[0] if rows else None
