"""The HTTP edge: flask-smorest's Api, the blueprints, request ids and the body-size limit."""

from __future__ import annotations

import tempfile

from flask import Flask, Response, g, request

from ...domain.errors import PayloadTooLarge, ValidationError
from ...domain.ids import CLIENT_REQUEST_ID, new_id
from . import clock as clock_endpoints
from . import (
    docs,
    errors,
    health,
    helper_endpoints,
    notifications,
    query_warnings,
    receiver_checks,
    tasks,
    uploads,
)
from . import faults as fault_endpoints
from . import profile as profile_endpoints
from . import snapshots as snapshot_endpoints
from .openapi import API_DESCRIPTION, Api

_SPOOL_BYTES = 1024 * 1024
_CHUNK_BYTES = 256 * 1024


def init_app(app: Flask) -> Api:
    app.config.update(
        API_TITLE="Send AI v2 task API (sendai-server)",
        API_VERSION="2",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": API_DESCRIPTION}},
        # Swagger UI from the installed swagger-ui-bundle, served by this app (docs.py): the
        # docs page works with no internet, and loads nothing from another host.
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL=docs.ASSETS_URL,
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None, "deepLinking": True,
                                   "persistAuthorization": True},
    )
    api = Api(app)
    app.register_blueprint(docs.blp)
    api.register_blueprint(health.blp)
    api.register_blueprint(tasks.blp)
    api.register_blueprint(uploads.blp)
    api.register_blueprint(notifications.blp)
    if app.config["SENDAI"].test_helpers:  # off: the paths do not exist at all (404)
        api.register_blueprint(helper_endpoints.blp)
        api.register_blueprint(receiver_checks.blp)  # docs/receiver-check.md
    fault_endpoints.init_app(app, api)  # docs/failures.md: test helpers too
    clock_endpoints.init_app(app, api)  # a team's clock (docs/clock.md): test helpers too
    profile_endpoints.init_app(app, api)  # docs/profiles.md: test helpers too
    snapshot_endpoints.init_app(app, api)  # docs/snapshots.md: test helpers too
    api.finish_document()  # every blueprint is registered: their /openapi.json

    @app.before_request
    def _begin_request() -> None:
        # Out of the proxies once (werkzeug's documented way): each proxied read costs a lookup.
        current = request._get_current_object()  # type: ignore[attr-defined]
        client_id = current.headers.get("X-Request-Id", "")
        g.request_id = client_id if CLIENT_REQUEST_ID.fullmatch(client_id) else new_id("req")
        # docs/api/index.md order: routing first, then the body size, before anything reads the
        # body.
        if current.routing_exception is not None:
            raise current.routing_exception
        limit = app.config["MAX_CONTENT_LENGTH"]
        view = app.view_functions.get(current.endpoint or "")
        if getattr(view, "sendai_large_body", False):  # an upload (api/uploads.py)
            limit = current.max_content_length = app.config["SENDAI"].max_upload_bytes
            current.max_form_memory_size = 1024 * 1024  # meta: 50 pairs of 10,000 characters
        length = current.content_length
        if length is not None and length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        if length is None and _is_chunked():
            _buffer_chunked_body(limit)

    errors.init_app(app)  # after the Api, so our handlers replace flask-smorest's
    query_warnings.init_app(app, api)  # after logs.py's hook is registered: runs before it

    @app.after_request
    def _tag_response(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id") or new_id("req")
        return response

    return api


def _is_chunked() -> bool:
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _buffer_chunked_body(limit: int) -> None:
    """A chunked body has no length to check up front, and werkzeug does not limit a stream the
    server has already de-chunked. Read at most `limit` + 1 bytes now, into memory up to 1 MiB
    and into a temporary file beyond (an upload may be hundreds of MiB): past the limit, 413
    (so even a view that ignores its body answers 413 and changes nothing); otherwise hand the
    body on as an ordinary one with a Content-Length."""
    environ = request.environ
    body = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 - handed on
    size = 0
    try:
        while size <= limit:
            chunk = environ["wsgi.input"].read(min(_CHUNK_BYTES, limit + 1 - size))
            if not chunk:
                break
            body.write(chunk)
            size += len(chunk)
    except Exception as exc:  # noqa: BLE001 - the server's de-chunking failed: a malformed body
        body.close()
        raise ValidationError("The chunked request body is malformed.") from exc
    if size > limit:
        body.close()
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    body.seek(0)
    environ["wsgi.input"] = body
    environ["CONTENT_LENGTH"] = str(size)
