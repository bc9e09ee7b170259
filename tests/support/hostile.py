"""Shared pieces of the hostile-input tests: the error-shape assertion, a snapshot of every
task and event, a raw HTTP client that sends exactly the bytes it is given, and the hostile
bodies every endpoint that reads one is sent."""

from __future__ import annotations

import contextlib
import json
import socket
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text


def snapshot(engine: Engine) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Every row of task and task_event, as text, in a stable order."""
    with engine.connect() as conn:
        tasks = conn.execute(text("SELECT * FROM task ORDER BY id")).all()
        events = conn.execute(text("SELECT * FROM task_event ORDER BY id")).all()
    return ([tuple(map(str, row)) for row in tasks], [tuple(map(str, row)) for row in events])


def assert_json_error(
    status: int, content_type: str | None, body: bytes, context: Any = None
) -> dict[str, Any]:
    """A 4xx in docs/api/index.md's shape; returns its `error` object."""
    assert 400 <= status < 500, (context, status, body[:300])
    assert (content_type or "").startswith("application/json"), (context, content_type)
    document = json.loads(body)
    assert set(document) == {"error", "request_id"}, (context, document)
    error = document["error"]
    assert set(error) <= {"status", "code", "message", "details"}, (context, error)
    assert error["status"] == status, (context, error)
    assert isinstance(error["code"], str) and error["code"], (context, error)
    assert isinstance(error["message"], str) and error["message"], (context, error)
    assert isinstance(document["request_id"], str), (context, document)
    return error  # type: ignore[no-any-return]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> RawResponse:
    """Send `data` as is (the caller ends the head with Connection: close) and read the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer (and close) before it has read everything.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return RawResponse(status, headers, body)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return out


def chunked(body: bytes, size: int = 512) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size])
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


# Text no database stores (a NUL: PostgreSQL's text cannot hold it) in the places a client
# names things: every endpoint that takes a name, a file or a field gets each of them.
UNSTORABLE_NAMES = {"nul": "a\x00b.pdf", "nul_at_end": "invoice.pdf\x00"}

JSON = "application/json"
HOSTILE_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid_utf8": (b'{"name": "\xff\xfe\xfd", "issues": [{"label": "\xc0", "value": "x"}]}',
                     JSON),
    "lone_surrogate": (b'{"name": "\\ud800", "issues": [{"label": "\\udfff", "value": "x"}]}',
                       JSON),
    "nul_in_string": (b'{"name": "a\\u0000b", "issues": [{"label": "a\\u0000", "value": "x"}]}',
                      JSON),
    "array": (b"[1, 2, 3]", JSON),
    "string_scalar": (b'"discard"', JSON),
    "number_scalar": (b"42", JSON),
    "null": (b"null", JSON),
    "truncated": (b'{"issues": [{"label": "a"', JSON),
    "concatenated": (b'{"issues": []}{"issues": []}', JSON),
    "deeply_nested": (b"[" * 100_000 + b"]" * 100_000, JSON),
    "form_body": (b"issues=a&message=b&name=c", "application/x-www-form-urlencoded"),
    "json_sent_as_text": (b'{"message": "x"}', "text/plain"),
}
