"""The HTTP edge: flask-smorest's Api, the blueprints, request ids and the body-size limit."""

from __future__ import annotations

import re

from flask import Flask, Response, g, request
from flask_smorest import Api

from ..errors import PayloadTooLarge
from ..ids import new_id
from . import health, tasks, test_helpers

_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def init_app(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Send AI v2 task API (sendai-server)",
        API_VERSION="2",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api = Api(app)
    api.register_blueprint(health.blp)
    api.register_blueprint(tasks.blp)
    if app.config["SENDAI"].test_helpers:  # off: the paths do not exist at all (404)
        api.register_blueprint(test_helpers.blp)

    @app.before_request
    def _begin_request() -> None:
        client_id = request.headers.get("X-Request-Id", "")
        g.request_id = client_id if _CLIENT_REQUEST_ID.fullmatch(client_id) else new_id("req")
        # API.md §2 order: routing first, then the body size, before anything reads the body.
        if request.routing_exception is not None:
            raise request.routing_exception
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")

    @app.after_request
    def _tag_response(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id") or new_id("req")
        return response

    return api
