"""The HTTP edge of errors: every failure as docs/api/index.md's one JSON shape."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from ...domain.errors import (
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SendAIError,
    ValidationError,
)

log = logging.getLogger("sendai_server.domain.errors")

_HTTP_CODES: dict[int, tuple[type[SendAIError], str]] = {
    400: (ValidationError, "The request could not be understood."),
    404: (NotFound, NotFound.default_message),
    405: (MethodNotAllowed, "This method is not allowed on this path."),
    413: (PayloadTooLarge, "The request body is larger than this server accepts."),
    429: (RateLimited, "Too many requests for this API key; retry later."),
}


def error_response(error: SendAIError) -> Response:
    body: dict[str, Any] = {"status": error.status, "code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    response = jsonify({"error": body, "request_id": g.get("request_id")})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def from_http_exception(exc: HTTPException) -> SendAIError:
    """Werkzeug's and flask-smorest's HTTP errors, in our shape."""
    status = exc.code or 500
    kind, default_message = _HTTP_CODES.get(status, (SendAIError, SendAIError.default_message))
    details = None
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # webargs nests by location ("json", "query"); clients want the field names.
        details = {"fields": _flatten_locations(messages)}
        default_message = "The request is not valid; see details.fields."
    error = kind(default_message, details)
    if kind is SendAIError and status != 500:
        error.status, error.code = status, "http_error"
    headers = dict(exc.get_headers())
    headers.pop("Content-Type", None)
    error.headers.update(headers)
    return error


def _flatten_locations(messages: dict[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def init_app(app: Flask) -> None:
    @app.errorhandler(SendAIError)
    def _domain_error(error: SendAIError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(from_http_exception(exc))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"request_id": g.get("request_id")})
        return error_response(SendAIError())
