"""What every part of the web layer (api/, inspect/, auth) shares about the app it runs in: the
request's unit of work, the engine, the file storage and the server's signing secret, each behind
an accessor (flaskr's `get_db()`), never a string key into `app.extensions` elsewhere. Services
never import this: they take the unit of work as their first argument (store/uow.py), and stay
Flask-free.

`current_uow()` makes the request's unit of work on first use and the app context's teardown
closes it (the shape of flaskr's `get_db`). The first one of a process checks that the
database's schema is this version's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from alembic.runtime.migration import MigrationContext
from flask import Flask, current_app, g
from sqlalchemy import Engine

from ..domain.errors import Unavailable
from ..services.signing import signing_secret
from ..store import migrate
from ..store.storage import Storage
from ..store.uow import NOT_MIGRATED, UnitOfWork

_ENGINE = "sendai_engine"
_STORAGE = "sendai_storage"
_SCHEMA_AT_HEAD = "sendai_schema_at_head"
_TOKEN_SECRET = "sendai_token_secret"


class App(Flask):
    """The application's class: Flask, with no async views or hooks. Flask asks of every view
    and every hook, on every request, whether it is a coroutine function (`ensure_sync`, about
    ten times a request); none is, so the question is asked once, by `check_sync` when the app
    is built, and `ensure_sync` returns the function as it is (Flask's documented override)."""

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        return func


def check_sync(app: Flask) -> None:
    """No view or request hook is a coroutine function: `App.ensure_sync` relies on it. Run by
    create_app, after every view and hook is registered."""
    hooks: list[Callable[..., Any]] = list(app.view_functions.values())
    for registry in (app.before_request_funcs, app.after_request_funcs,
                     app.teardown_request_funcs):
        hooks.extend(f for funcs in registry.values() for f in funcs)
    hooks.extend(app.teardown_appcontext_funcs)
    for hook in hooks:
        if inspect.iscoroutinefunction(hook):
            raise TypeError(f"{hook.__qualname__} is a coroutine function; sendai-server's "
                            "App runs views and hooks synchronously (web/context.py)")


def init_app(app: Flask, engine: Engine, storage: Storage) -> None:
    app.extensions[_ENGINE] = engine
    app.extensions[_STORAGE] = storage
    # Checked on the first request that needs the database (one statement per process), and
    # again after any failure to check it, so a database migrated meanwhile is served at once.
    app.extensions[_SCHEMA_AT_HEAD] = app.config["SENDAI"].allow_schema_mismatch

    @app.teardown_appcontext
    def _close_uow(_exc: BaseException | None) -> None:
        uow = g.pop("uow", None)
        if uow is not None:
            uow.close()


def engine_of(app: Flask) -> Engine:
    """The app's engine (the CLI, the plugin and the tests dispose of it or open their own units
    of work on it)."""
    engine: Engine = app.extensions[_ENGINE]
    return engine


def storage_of(app: Flask) -> Storage:
    """The app's file storage (a folder or S3)."""
    storage: Storage = app.extensions[_STORAGE]
    return storage


def current_storage() -> Storage:
    return storage_of(current_app)


def current_uow() -> UnitOfWork:
    """The request's unit of work, made on first use; closed when the request ends."""
    request_g = g._get_current_object()  # one proxy lookup
    uow: UnitOfWork | None = request_g.get("uow")
    if uow is None:
        extensions = current_app.extensions
        uow = request_g.uow = UnitOfWork(extensions[_ENGINE])
        if not extensions[_SCHEMA_AT_HEAD]:
            _check_schema(uow)
            extensions[_SCHEMA_AT_HEAD] = True
    return uow


def _check_schema(uow: UnitOfWork) -> None:
    """503 `unavailable` on a database whose schema is not this version's (never migrated,
    older, or migrated by a newer version): every request would fail in its own way."""
    current = uow.first_read(lambda conn: MigrationContext.configure(conn).get_current_revision())
    head = migrate.head_revision()
    if current != head:
        raise Unavailable(NOT_MIGRATED, details={"current": current, "head": head})


def token_secret() -> str:
    """The secret that signs pagination tokens and the inspector's sessions (services/
    signing.py): the configured key, or the one every worker shares through the database.
    Read once per process."""
    extensions = current_app.extensions
    if _TOKEN_SECRET not in extensions:
        configured = current_app.config["SENDAI"].secret_key
        extensions[_TOKEN_SECRET] = signing_secret(current_uow(), configured)
    return str(extensions[_TOKEN_SECRET])
