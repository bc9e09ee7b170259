"""The inspector (docs/inspector.md): web pages under /inspect where a person signs in with an API
key and sees, and acts on, what that key may see. Server-rendered Jinja templates, a stylesheet and
a few lines of JavaScript of its own, all served by this app; the same services as the API."""

from __future__ import annotations

from flask import Flask

from .session import InspectorSessionInterface


def init_app(app: Flask) -> None:
    if not app.config["SENDAI"].inspector:
        return  # off: /inspect does not exist at all (404)
    from . import (
        clock_views,  # noqa: F401 - the team's clock on every page, and its Advance
        faults_page,  # noqa: F401 - its route, on the same blueprint
        redelivery_views,  # noqa: F401 - its route joins the blueprint
        snapshots_page,  # noqa: F401 - its routes join the blueprint (docs/snapshots.md)
    )
    from .views import blp

    app.session_interface = InspectorSessionInterface()
    app.register_blueprint(blp)
