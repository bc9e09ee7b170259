"""The plugin's own HTTP client (httpx): how a `sendai` fixture object calls the API for a test,
as any client would, with a key of its project. One per session, shared by every project (its
connections are kept alive; httpx's client is safe to share between threads)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

HTTP_TIMEOUT = 10.0

File = str | os.PathLike[str] | tuple[str, bytes]
"""A file to upload: a path, or `(name, bytes)`."""


class SendAIHelperError(Exception):
    """A request the plugin made for a test was refused: the answer's status and body are
    kept, and the message names the request and the API's error code and message."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        what = f"{error.get('code')}: {error.get('message')}" if error else repr(body)[:500]
        said = _details_said(error.get("details")) if error else ""
        super().__init__(f"{method} {url} answered {status} ({what})" + said)


def _details_said(details: Any) -> str:
    """An error's `details` in the message, so that what the message points at is in it: each
    field at fault with what is wrong (`match.operation: ...`), then the rest (`known
    operations: approveTask, ...`, `required: task.edit`)."""
    if not isinstance(details, dict) or not details:
        return ""
    lines = [f"  {field}: {problem}" for field, problem in _fields_said(details.get("fields"))]
    for name, value in details.items():
        if name == "fields":
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, default=str)
        lines.append(f"  {name.replace('_', ' ')}: {value}")
    return "\n" + "\n".join(lines) if lines else ""


def _fields_said(fields: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted field, its problems) from marshmallow's nesting of `details.fields`."""
    if isinstance(fields, dict):
        for name, inner in fields.items():
            yield from _fields_said(inner, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(fields, list) and all(isinstance(f, str) for f in fields):
        yield prefix or "body", " ".join(fields)
    elif fields is not None:
        yield prefix or "body", json.dumps(fields, default=str)


class HelperClient:
    """JSON requests to the server at `base_url`, each with the key it is given; an answer of
    400 or more raises SendAIHelperError."""

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT) -> None:
        self.base_url = base_url
        # Plain HTTP to 127.0.0.1: no TLS to verify (an SSL context with the CA bundle would
        # cost the session's start about 0.1 s), and no proxy from the environment to go through.
        self._http = httpx.Client(timeout=timeout, verify=False, trust_env=False)

    def call(
        self, method: str, url: str, key: str, *, json: Any = None,
        files: list[tuple[str, tuple[str, bytes]]] | None = None,
        data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The answer's JSON document (`{}` for an answer without a body, such as a 204).
        `url` is absolute, or a path under `base_url`. `files` and `data` make a
        multipart/form-data request (RFC 7578)."""
        if url.startswith("/"):
            url = self.base_url + url
        response = self._http.request(method, url, json=json, files=files, data=data,
                                      headers={"Authorization": f"Bearer {key}"})
        _raise_for_error(method, url, response)
        if not response.content:
            return {}
        answer: dict[str, Any] = response.json()
        return answer

    def call_bytes(self, method: str, url: str, key: str, *, content: bytes | None = None,
                   content_type: str | None = None, timeout: float | None = None) -> bytes:
        """Like `call`, for a body or an answer that is a file (a snapshot, docs/snapshots.md),
        or a call that may take longer than HTTP_TIMEOUT (`timeout`): the answer's bytes."""
        if url.startswith("/"):
            url = self.base_url + url
        headers = {"Authorization": f"Bearer {key}"}
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = self._http.request(method, url, content=content, headers=headers,
                                      timeout=timeout or self._http.timeout)
        _raise_for_error(method, url, response)
        return response.content

    def close(self) -> None:
        self._http.close()


def _raise_for_error(method: str, url: str, response: httpx.Response) -> None:
    """SendAIHelperError for an answer of 400 or more, with its JSON (or its text)."""
    if response.is_error:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raise SendAIHelperError(method, url, response.status_code, body)


def read_file(file: File) -> tuple[str, bytes]:
    """A file to upload as (its name, its bytes)."""
    if isinstance(file, tuple):
        name, content = file
        return str(name), bytes(content)
    path = Path(file)
    return path.name, path.read_bytes()
