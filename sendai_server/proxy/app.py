"""The streaming reverse proxy (docs/proxy.md): a WSGI app, served by gunicorn's threads, that
passes each request to the upstream with httpx and its answer back, both unchanged, and checks
both against the contract on the way.

What "unchanged" leaves out, as any HTTP proxy must (RFC 9110 §7.6.1): the hop-by-hop headers
(Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), Expect (gunicorn
answers 100-continue itself), and Host (the upstream's own). gunicorn sets Server and Date.

Memory: a body is read whole only when it is small. A request body other than multipart of at
most READ_WHOLE_BYTES is read before it is sent (so that `--strict` can refuse it, and its
content can be checked); anything larger, and every multipart upload, streams in CHUNK_BYTES
pieces, checked for all but its content (contract.py). A JSON answer of at most
READ_WHOLE_ANSWER_BYTES is read before its headers go back (the finding count is a header);
other answers stream, checked for their status, headers and media type. The recording keeps
at most the first 1 MiB of each body (recording.py)."""

from __future__ import annotations

import http
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl, unquote

import httpx

from ..domain import clock
from ..domain.ids import CLIENT_REQUEST_ID, new_id
from .contract import CheckedResponse, Contract, Finding
from .recording import BodyCopy, Recording, is_json, redacted

log = logging.getLogger("sendai_server.proxy")

CHUNK_BYTES = 64 * 1024
READ_WHOLE_BYTES = 1024 * 1024  # the server's own limit for a body that is not an upload
READ_WHOLE_ANSWER_BYTES = 8 * 1024 * 1024
VIOLATIONS_HEADER = "X-Sendai-Violations"
_HOP_BY_HOP = {"connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding",
               "upgrade", "proxy-authorization", "proxy-authenticate", "proxy-connection",
               "expect", "host"}

StartResponse = Callable[..., Any]


def _request_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """The client's headers as WSGI gives them (names in canonical case), hop-by-hop left out."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() not in _HOP_BY_HOP:
            headers.append((name, value))
    return headers


def _read_up_to(stream: Any, limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        part = stream.read(min(CHUNK_BYTES, limit - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _decoded(data: bytes, encoding: str) -> bytes | None:
    """A copy of an answer body for checking; None when its coding is not one we can undo."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding in ("gzip", "x-gzip", "deflate"):
        try:
            return zlib.decompress(data, 47 if encoding != "deflate" else zlib.MAX_WBITS)
        except zlib.error:
            return None
    return None


class ProxyApp:
    def __init__(self, upstream: str, contract: Contract, *, strict: bool = False,
                 recording: Recording | None = None, timeout: float = 30.0,
                 connections: int = 64, transport: httpx.BaseTransport | None = None) -> None:
        self.upstream = httpx.URL(upstream)
        # A request's path goes after the upstream's own (https://host/prefix + /v2/...).
        self.upstream_prefix = self.upstream.raw_path.split(b"?", 1)[0].rstrip(b"/")
        self.upstream_shown = str(self.upstream.copy_with(username=None, password=None))
        # Without --strict, a request is checked while the upstream works on it: the check
        # (a few ms of openapi-core) overlaps the upstream's time instead of adding to it.
        self.checks = ThreadPoolExecutor(max_workers=connections,
                                         thread_name_prefix="contract-check")
        self.contract = contract
        self.strict = strict
        self.recording = recording
        # Requests are built one by one (not with the client's default headers, which would
        # add Accept, User-Agent, ...); no cookie jar, so no answer's cookie reaches another.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout), follow_redirects=False,
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections),
            transport=transport,  # tests stand a stub in for the network here
        )

    def close(self) -> None:
        self.checks.shutdown()
        self.client.close()
        if self.recording is not None:
            self.recording.close()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        exchange = _Exchange(self, environ)
        return exchange.run(start_response)


class _Exchange:
    """One request and its answer, from arrival to the last byte back."""

    def __init__(self, proxy: ProxyApp, environ: dict[str, Any]) -> None:
        self.proxy = proxy
        self.environ = environ
        self.started = time.perf_counter()
        self.at = clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.method = environ["REQUEST_METHOD"]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if not raw:
            query = environ.get("QUERY_STRING", "")
            raw = environ.get("PATH_INFO", "") + (f"?{query}" if query else "")
        self.target = raw
        raw_path, _, self.query = raw.partition("?")
        self.path = unquote(raw_path)
        self.headers = _request_headers(environ)
        client_id = environ.get("HTTP_X_REQUEST_ID", "")
        self.request_id = (client_id if CLIENT_REQUEST_ID.fullmatch(client_id)
                           else new_id("req"))
        self.request_body = BodyCopy(environ.get("CONTENT_TYPE", ""))
        self.response_body = BodyCopy()
        self.findings: list[Finding] = []
        self.operation: str | None = None
        self.status = 0
        self.response_headers: list[tuple[str, str]] = []

    # --- the request -----------------------------------------------------------------------------

    def run(self, start_response: StartResponse) -> Iterable[bytes]:
        body, content = self._request_body()
        checked = self.proxy.contract.request(
            self.method, self.path, parse_qsl(self.query, keep_blank_values=True),
            self.headers, body)
        self.operation = checked.operation
        if self.proxy.strict:
            self.findings = self.proxy.contract.check_request(checked)
            if self.findings:
                return self._own_answer(
                    start_response, 400, "validation_error",
                    "The request breaks the contract; it was not sent upstream.",
                    {"violations": [f.as_dict() for f in self.findings]})
            pending = None
        else:
            pending = self.proxy.checks.submit(self.proxy.contract.check_request, checked)
        url = self.proxy.upstream.copy_with(
            raw_path=self.proxy.upstream_prefix + self.target.encode("latin-1"))
        request = httpx.Request(self.method, url, headers=self.headers, content=content)
        try:
            try:
                response = self.proxy.client.send(request, stream=True)
            finally:
                if pending is not None:
                    self.findings = pending.result()
        except httpx.TransportError as exc:
            return self._upstream_failed(start_response, exc)
        try:
            return self._answer(start_response, checked, response)
        except httpx.TransportError as exc:  # while reading an answer before passing it on
            response.close()
            return self._upstream_failed(start_response, exc)

    def _upstream_failed(self, start_response: StartResponse,
                         exc: httpx.TransportError) -> Iterable[bytes]:
        if isinstance(exc, httpx.TimeoutException):
            return self._own_answer(
                start_response, 504, "gateway_timeout",
                f"The upstream {self.proxy.upstream_shown} did not answer in time.")
        return self._own_answer(
            start_response, 502, "bad_gateway",
            f"The upstream {self.proxy.upstream_shown} could not be reached or broke off: "
            f"{type(exc).__name__}.")

    def _request_body(self) -> tuple[bytes | None, bytes | Iterator[bytes]]:
        """(the body to check, or None when it streams unread; what to send upstream)."""
        stream = self.environ["wsgi.input"]
        length = self.environ.get("CONTENT_LENGTH")
        chunked = "chunked" in self.environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and not length:
            return b"", b""
        multipart = self.request_body.content_type.lower().startswith("multipart/")
        if not multipart and (chunked or int(length or 0) <= READ_WHOLE_BYTES):
            head = _read_up_to(stream, READ_WHOLE_BYTES + 1)
            if len(head) <= READ_WHOLE_BYTES:
                self.request_body.add(head)
                return head, head
        else:
            head = b""
        return None, self._stream_request(head, stream)

    def _stream_request(self, head: bytes, stream: Any) -> Iterator[bytes]:
        if head:
            self.request_body.add(head)
            yield head
        while chunk := stream.read(CHUNK_BYTES):
            self.request_body.add(chunk)
            yield chunk

    # --- the answer ------------------------------------------------------------------------------

    def _answer(self, start_response: StartResponse, checked: Any,
                response: httpx.Response) -> Iterable[bytes]:
        headers = [(name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in response.headers.raw
                   if name.decode("latin-1").lower() not in _HOP_BY_HOP]
        if "HTTP_X_REQUEST_ID" not in self.environ:  # log lines name the upstream's id
            self.request_id = response.headers.get("X-Request-Id", self.request_id)
        content_type = response.headers.get("Content-Type", "")
        self.response_body.content_type = content_type
        chunks = response.iter_raw(CHUNK_BYTES)
        head = b""
        data: bytes | None = None
        length = response.headers.get("Content-Length")
        if is_json(content_type) and (length is None or
                                      int(length) <= READ_WHOLE_ANSWER_BYTES):
            parts, size, complete = [], 0, True
            for chunk in chunks:
                parts.append(chunk)
                size += len(chunk)
                if size > READ_WHOLE_ANSWER_BYTES:
                    complete = False
                    break
            head = b"".join(parts)
            if complete:
                data = _decoded(head, response.headers.get("Content-Encoding", ""))
        self.findings += self.proxy.contract.check_response(checked, CheckedResponse(
            response.status_code, response.headers, content_type.lower(), data))
        self.status = response.status_code
        self.response_headers = headers
        if self.findings:
            headers = [*headers, (VIOLATIONS_HEADER, str(len(self.findings)))]
            self._log_findings()
        start_response(_status_line(response.status_code, response.reason_phrase), headers)
        return _Relay(self, head, chunks, response)

    def _own_answer(self, start_response: StartResponse, status: int, code: str,
                    message: str, details: dict[str, Any] | None = None) -> Iterable[bytes]:
        """An answer of the proxy's own (§2's error shape), not the upstream's."""
        error: dict[str, Any] = {"status": status, "code": code, "message": message}
        if details is not None:
            error["details"] = details
        body = json.dumps({"error": error, "request_id": self.request_id}).encode()
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("X-Request-Id", self.request_id)]
        if self.findings:
            headers.append((VIOLATIONS_HEADER, str(len(self.findings))))
            self._log_findings()
        if status >= 500:
            log.warning(message, extra={"event": "upstream_failed", "status": status,
                                        "request_id": self.request_id})
        self.status, self.response_headers = status, headers
        self.response_body.content_type = "application/json"
        start_response(_status_line(status, ""), headers)
        return _Relay(self, body, iter(()), None)

    def _log_findings(self) -> None:
        for finding in self.findings:
            log.warning(finding.message, extra={
                "event": "contract_violation", "request_id": self.request_id,
                "side": finding.side, "operation": finding.operation, "where": finding.where,
                "rule": finding.rule})

    def finish(self) -> None:
        """After the last byte back (or the client gone): the exchange's line, if recording."""
        duration_ms = round((time.perf_counter() - self.started) * 1000, 3)
        recording = self.proxy.recording
        if recording is None:
            return
        recording.append({
            "at": self.at, "duration_ms": duration_ms, "operation": self.operation,
            "request": {"method": self.method, "path": self.path, "query": self.query,
                        "headers": redacted(self.headers), "body": self.request_body.as_json()},
            "response": {"status": self.status, "headers": redacted(self.response_headers),
                         "body": self.response_body.as_json()},
            "violations": [f.as_dict() for f in self.findings],
        })


class _Relay:
    """The answer's body as the WSGI server pulls it; close() releases the upstream connection
    and records the exchange, whether the body was sent whole or the client went away."""

    def __init__(self, exchange: _Exchange, head: bytes, rest: Iterator[bytes],
                 response: httpx.Response | None) -> None:
        self.exchange, self.head, self.rest, self.response = exchange, head, rest, response

    def __iter__(self) -> Iterator[bytes]:
        copy = self.exchange.response_body
        if self.head:
            copy.add(self.head)
            yield self.head
        for chunk in self.rest:
            copy.add(chunk)
            yield chunk

    def close(self) -> None:
        try:
            if self.response is not None:
                self.response.close()
        finally:
            self.exchange.finish()


def _status_line(status: int, reason: str) -> str:
    if not reason:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
    return f"{status} {reason}"
