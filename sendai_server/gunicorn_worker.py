"""gunicorn's sync worker, answering the requests that gunicorn itself rejects (a request line
or header too long, a malformed header, a bad chunk, ...) in API.md §2's JSON error shape
instead of gunicorn's HTML page; and logging them without echoing the offending line, which can
hold an API key (a header line without a colon is quoted whole by gunicorn's own message)."""

from __future__ import annotations

import json
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.sync import SyncWorker

from .ids import new_id

# (status, reason, code, message), most specific first.
_CLIENT_ERRORS: list[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str,
                          str, str]] = [
    ((http_errors.InvalidResponseHeader, http_errors.InvalidResponseHeaderName), 500,
     "Internal Server Error", "internal_error",
     "An internal error occurred; it has been logged."),
    (http_errors.LimitRequestLine, 414, "URI Too Long", "uri_too_long",
     "The request line is longer than this server accepts."),
    (http_errors.LimitRequestHeaders, 431, "Request Header Fields Too Large",
     "headers_too_large", "A request header, or all of them, are larger than this server "
     "accepts."),
    (http_errors.UnsupportedTransferCoding, 501, "Not Implemented", "not_implemented",
     "This Transfer-Encoding is not supported."),
    (http_errors.ExpectationFailed, 417, "Expectation Failed", "expectation_failed",
     "The Expect header cannot be met."),
    (http_errors.ForbiddenProxyRequest, 403, "Forbidden", "forbidden",
     "Proxy requests are not accepted from this address."),
    (http_errors.ParseException, 400, "Bad Request", "bad_request",
     "The request is not valid HTTP."),
]


def error_bytes(status: int, reason: str, code: str, message: str) -> bytes:
    request_id = new_id("req")
    body = json.dumps({"error": {"status": status, "code": code, "message": message},
                       "request_id": request_id}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"X-Request-Id: {request_id}\r\n\r\n").encode("latin-1")
    return head + body


def _classify(exc: BaseException) -> tuple[int, str, str, str]:
    for kind, status, reason, code, message in _CLIENT_ERRORS:
        if isinstance(exc, kind):
            return status, reason, code, message
    return 500, "Internal Server Error", "internal_error", _CLIENT_ERRORS[0][4]


class JSONErrorSyncWorker(SyncWorker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, code, message = _classify(exc)
        if status >= 500:
            self.log.exception("Error handling request (%s)", type(exc).__name__)
        else:
            ip = addr[0] if addr else ""
            self.log.warning("Invalid request from ip=%s: %s", ip, type(exc).__name__)
        try:
            util.write_nonblock(client, error_bytes(status, reason, code, message))
        except Exception:  # noqa: BLE001 - the client may be gone; nothing left to tell it
            self.log.debug("Failed to send error message.")
