"""gunicorn's workers (`gthread`, which `serve` runs, and `sync`), answering the requests that
gunicorn itself rejects (a request line or header too long, a malformed header, a bad chunk,
...) in docs/api/index.md's JSON error shape instead of gunicorn's HTML page; and logging them
without echoing the offending line, which can hold an API key (a header line without a colon is
quoted whole by gunicorn's own message).

It also reads and discards what the application left of a request's body before the socket is
closed (a bounded lingering close, as nginx does), so that a client sent an early answer (413
for a body over the limit, or a 401/404 before a body is read) can read it: closing a socket
with unread data makes the kernel send a reset, and a client still sending its body then gets
a broken pipe or a reset instead of the answer."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http_errors
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from ..domain.ids import new_id

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


class _JSONErrors:
    """What both workers add: the JSON error answers and the bounded lingering close."""

    log: Any
    # The bounded lingering close: at most this many bytes of unread body, for at most this
    # long in all; past either the socket is closed, and a client still sending gets a reset.
    DRAIN_MAX_BYTES = 64 * 1024 * 1024
    DRAIN_SECONDS = 5.0
    _DRAIN_STEP = 256 * 1024

    def _drain_unread_body(self, req: Any, client: socket.socket) -> None:
        """After the answer is written: send FIN (the answer is complete, as gunicorn's own
        close does next anyway), then read and discard the rest of the body through gunicorn's
        body reader, which knows where the body ends (Content-Length or the last chunk), so the
        close that follows finds nothing unread. A body the app read costs the shutdown
        (gunicorn's close would make it anyway), a timeout setting and a read of 0 bytes that
        does not touch the socket."""
        try:
            client.shutdown(socket.SHUT_WR)
        except OSError:  # the client is gone
            return
        deadline = time.monotonic() + self.DRAIN_SECONDS
        drained = 0
        try:
            while drained < self.DRAIN_MAX_BYTES:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                client.settimeout(remaining)
                data = req.body.read(self._DRAIN_STEP)
                if not data:
                    break
                drained += len(data)
        except Exception:  # noqa: BLE001 - a timeout, a reset, a bad chunk: just close
            pass
        if drained:
            self.log.debug("Discarded %d unread bytes of a request body.", drained)

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


class JSONErrorSyncWorker(_JSONErrors, SyncWorker):
    """One request at a time per process; every connection is closed after its answer."""

    def handle_request(self, listener: Any, req: Any, client: Any, addr: Any) -> None:
        super().handle_request(listener, req, client, addr)
        self._drain_unread_body(req, client)


class JSONErrorThreadWorker(_JSONErrors, ThreadWorker):
    """gunicorn's `gthread` worker: requests run in a pool of threads, and a connection that
    waits (a browser's kept-alive or speculative one) waits in the worker's poller, not in a
    thread, so an idle browser costs no thread. The same bounded lingering close as the sync
    worker's: a kept-alive answer's unread body is drained within the same bounds through the
    parser (gunicorn's own drain stops at 64 KiB, and a client still sending a few MB would
    get a reset instead of its 413); past them the connection closes."""

    def handle_request(self, req: Any, conn: Any) -> bool:
        if not super().handle_request(req, conn):
            self._drain_unread_body(req, conn.sock)
            return False
        deadline = time.monotonic() + self.DRAIN_SECONDS
        return bool(conn.parser.finish_body(deadline=deadline, max_bytes=self.DRAIN_MAX_BYTES))
