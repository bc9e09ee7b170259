"""sendai-server: a reference backend for Send AI's v2 task API.

Importing the package imports nothing else: Flask, SQLAlchemy and the application load when
`create_app` is first called, so neither a worker, a service or a migration that imports
`sendai_server.<something>` (tests/app/test_layers.py) nor the pytest plugin loaded into every
pytest run (sendai_server.testing.plugin) pays for the web layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the application. The only place a Flask app is made."""
    from . import cli
    from .config import Config
    from .store import db
    from .store.storage import storage_from_url
    from .web import api, auth, inspect, logs, ratelimit
    from .web import context as web

    config = config or Config.from_env()
    config.check()
    from .domain.profiles import use_server_default

    use_server_default(config.profile)  # every team's reading unless it sets its own
    app = web.App(__name__, static_folder=None)  # no /static; /docs serves its own assets
    app.config["SENDAI"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logs.configure(config.log_level)

    engine = db.make_engine(config.database_url)
    if config.test_statement_barrier and not config.is_production:
        from .store import statement_barrier

        statement_barrier.install(engine, config.test_statement_barrier)
    web.init_app(app, engine, storage_from_url(config.storage_url))
    logs.init_app(app)  # first, so its clock starts before any other before_request hook
    api.init_app(app)
    ratelimit.init_app(app)
    inspect.init_app(app)
    auth.check_scopes(app)  # every @requires names a known scope
    web.check_sync(app)  # no async view or hook: web.App asks once, here
    cli.register(app)  # the CLI imports create_app: imported here, not at the top, for that
    return app
