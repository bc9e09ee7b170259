"""sendai-server: a reference backend for Send AI's v2 task API.

Importing the package imports nothing else: Flask, SQLAlchemy and the application load when
`create_app` is first called, so what imports only a light part of the package (the pytest
plugin, sendai_server.testing.plugin, loaded into every pytest run) pays nothing for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from .config import Config


def create_app(config: Config | None = None) -> Flask:
    """Build the application. The only place a Flask app is made."""
    from flask import Flask

    from . import api, db, inspect, logs, ratelimit, uow
    from .config import Config
    from .storage import storage_from_url

    config = config or Config.from_env()
    config.check()
    app = Flask(__name__, static_folder=None)  # no /static; /docs serves its own assets
    app.config["SENDAI"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logs.configure(config.log_level)

    uow.init_app(app, db.make_engine(config.database_url))
    app.extensions["sendai_storage"] = storage_from_url(config.storage_url)
    logs.init_app(app)  # first, so its clock starts before any other before_request hook
    api.init_app(app)
    ratelimit.init_app(app)
    inspect.init_app(app)

    from . import cli  # the CLI imports create_app; import it late to avoid a cycle

    cli.register(app)
    return app
