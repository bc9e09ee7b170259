"""The root command group and what every command shares: the failures that are not bugs, how a
refused request is shown, and the --json output."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any, ClassVar

import click
from alembic.util import CommandError as AlembicCommandError
from sqlalchemy.exc import DBAPIError, OperationalError

from ..config import ConfigError
from ..domain.errors import SendAIError
from ..store import migrate


class CommandFailure(Exception):
    """An expected failure: the message is the one line the user sees."""


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class OpenedDatabase:
    """The database a command opened, as its failures name it (database.py records it)."""

    name: str  # a SQLite file's absolute path, or the URL without its password
    password: str | None  # kept out of every message

    META_KEY: ClassVar[str] = "sendai_server.database"

    def remember(self) -> None:
        context = click.get_current_context(silent=True)
        if context is not None:
            context.meta[self.META_KEY] = self


# SQLite's primary result codes for a database the command cannot use as it is: no permission,
# busy or locked past the busy timeout, read-only, I/O error, corrupt, full, cannot open,
# refused by an authorizer, not a database. (Others, e.g. an SQL error, are bugs.)
_SQLITE_ENVIRONMENT = {
    sqlite3.SQLITE_PERM, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_AUTH, sqlite3.SQLITE_NOTADB,
}
# PostgreSQL's SQLSTATE classes of the same kind: connection exception, insufficient
# resources, operator intervention (a shutdown), system error; and a read-only transaction.
_POSTGRES_ENVIRONMENT = ("08", "53", "57", "58", "25006")


def _database_unusable(exc: DBAPIError) -> bool:
    """A database failure that is the database's state, not this program's fault."""
    if exc.connection_invalidated:
        return True
    orig: Any = exc.orig
    sqlite_code: int | None = getattr(orig, "sqlite_errorcode", None)
    if sqlite_code is not None:
        return sqlite_code & 0xFF in _SQLITE_ENVIRONMENT
    if isinstance(exc, OperationalError) and hasattr(orig, "sqlstate"):
        sqlstate: str | None = orig.sqlstate  # psycopg's; None for a failure on the client side
        return sqlstate is None or sqlstate.startswith(_POSTGRES_ENVIRONMENT)
    return False


def _expected_failure(exc: Exception, database: OpenedDatabase | None = None) -> str | None:
    """The one line for a failure that is not a bug; None for anything else."""
    if isinstance(exc, (CommandFailure, migrate.SchemaMismatch, ConfigError, SendAIError)):
        return _one_line(str(exc))
    if isinstance(exc, DBAPIError) and database is not None and _database_unusable(exc):
        reason = str(exc.orig).strip() or repr(exc.orig)
        if database.password:
            reason = reason.replace(database.password, "***")
        return _one_line(f"the database {database.name} failed: {reason}")
    if isinstance(exc, AlembicCommandError):
        known = ", ".join(("base", *migrate.revisions()))
        return _one_line(f"{exc}: give one of this version's revisions ({known}), head, "
                         "or a step like -1")
    return None


class _CommandLine(click.Group):
    """The top-level group: maps the known failures of every command to one line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            message = _expected_failure(exc, ctx.meta.get(OpenedDatabase.META_KEY))
            if message is None or ctx.params.get("debug"):
                raise
            raise click.ClickException(message) from exc


@click.group(cls=_CommandLine,
             help="sendai-server: a reference backend for Send AI's v2 task API.")
@click.option("--debug", is_flag=True,
              help="Show the traceback of a failure instead of its one-line message.")
def main(debug: bool) -> None:
    pass


def domain_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refused request into a one-line message and exit status 1, not a traceback."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (SendAIError, ConfigError) as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


def emit(as_json: bool, document: dict[str, Any], human: str) -> None:
    """`document` as JSON (its datetimes in ISO 8601) with --json, else the `human` line(s)."""
    click.echo(json.dumps(document, indent=2, default=_iso) if as_json else human)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")

