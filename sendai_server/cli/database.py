"""The database a command means: its URL checked before any driver is imported, the server
reached, and the command's unit of work on a schema at this version's head."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from .. import create_app
from ..config import Config
from ..store import migrate
from ..store.uow import UnitOfWork
from ..web.context import engine_of
from .base import CommandFailure, OpenedDatabase

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
_URL_EXAMPLES = "sqlite:///path/to/file.db or postgresql://user@host/dbname"


def _hide_password(raw: str) -> str:
    """A URL SQLAlchemy cannot parse, with whatever follows 'user:' up to the last '@' masked."""
    userinfo, at, rest = raw.rpartition("@")
    scheme, slashes, credentials = userinfo.rpartition("//")
    if not at or ":" not in credentials:
        return raw
    return f"{scheme}{slashes}{credentials.split(':', 1)[0]}:***@{rest}"


def check_database_url(raw: str) -> URL:
    """Refuse, before any driver is imported, a URL this server cannot use."""
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise CommandFailure(
            f"DATABASE_URL is not a database URL: {_hide_password(raw)!r}; "
            f"write {_URL_EXAMPLES}"
        ) from exc
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise CommandFailure(
            f"DATABASE_URL is a {backend} URL ({shown}); sendai-server supports sqlite and "
            f"postgresql: {_URL_EXAMPLES}"
        )
    if url.drivername not in SUPPORTED_BACKENDS:  # an explicit driver: is it installed?
        try:
            url.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as exc:
            raise CommandFailure(
                f"DATABASE_URL asks for the driver {url.drivername} ({shown}), which is not "
                f"available ({exc}); write {backend}://... to use the one sendai-server ships with"
            ) from exc
    return url


def database_name(url: URL) -> str:
    """The database as the command line names it to people: a SQLite file by its absolute
    path, any other database by its URL without the password."""
    path = url.database or ""
    if url.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return url.render_as_string(hide_password=True)
    if path.startswith("file:") and url.query.get("uri"):  # sqlite:///file:PATH?uri=true
        path = path.removeprefix("file:")
    return os.path.abspath(path)


def _make_sqlite_folder(url: URL) -> None:
    """The folder of a SQLite file, made here (as the engine would) to name what fails."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    folder = Path(url.database or "").parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandFailure(
            f"cannot make the folder of the database {database_name(url)}: "
            f"{exc.strerror or exc}; check that the path is right and writable"
        ) from exc


def check_reachable(app: Flask, url: URL) -> None:
    shown = database_name(url)
    try:
        with engine_of(app).connect():
            pass
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else repr(exc)
        if url.password:
            reason = reason.replace(str(url.password), "***")
        todo = (
            "check that the path is right and its directory writable"
            if url.get_backend_name() == "sqlite"
            else "check that the server is running and DATABASE_URL's host, port, user, "
            "password and database name"
        )
        raise CommandFailure(f"cannot connect to the database {shown}: {reason}; {todo}") from exc


def command_app() -> Flask:
    """The application, on a database URL this server supports and can connect to."""
    try:
        return current_app._get_current_object()  # type: ignore[attr-defined]
    except RuntimeError:
        pass
    config = Config.from_env()
    url = check_database_url(config.database_url)
    OpenedDatabase(database_name(url), url.password and str(url.password)).remember()
    _make_sqlite_folder(url)
    app = create_app(config)
    check_reachable(app, url)
    return app


def app_engine(app: Flask) -> Engine:
    engine: Engine = engine_of(app)
    return engine


def app_database_name(app: Flask) -> str:
    return database_name(make_url(app.config["SENDAI"].database_url))


def schema_mismatch(app: Flask) -> migrate.SchemaMismatch | None:
    """migrate.schema_mismatch, its message naming the database."""
    return migrate.schema_mismatch(app_engine(app), app_database_name(app))


def check_schema(app: Flask, *, allow_older: bool = False) -> None:
    """migrate.check_schema, its message naming the database."""
    migrate.check_schema(app_engine(app), allow_older=allow_older,
                         database=app_database_name(app))


@contextmanager
def command_uow() -> Iterator[UnitOfWork]:
    """A command's unit of work, the same object a request or a worker uses, on a database
    whose schema is at this version's head."""
    app = command_app()
    check_schema(app)
    with app.app_context(), UnitOfWork(app_engine(app)) as uow:
        yield uow
