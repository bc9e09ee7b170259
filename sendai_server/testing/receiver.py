"""Webhook receivers for tests, the plugin's and the project's own (one implementation): a real
HTTP server on a free port of 127.0.0.1, in a background thread, until `close()`.

`Receiver` keeps every request and answers as scripted (a status, headers, or a held request),
for tests of how deliveries are retried; `NotificationReceiver` is the plugin session's, which
files each notification under the project whose connector sent it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEADLINE = 30.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.json["event"])


Answer = int | str | tuple[int, dict[str, str]]  # a status, "hold", or a status and headers


class Receiver:
    """A webhook receiver: a real HTTP server on a free port, in a thread, that keeps every
    request it gets (`received`) and answers each as its `script` says, then `default`: a
    status, a status with headers, or "hold" (keep the request open until `release` is set or
    the receiver closes). `url` takes any path; `base` is the server's address."""

    def __init__(self, script: list[Answer] | None = None, default: Answer = 200,
                 host: str = "127.0.0.1") -> None:
        self.script = list(script or [])
        self.default = default
        self.received: list[Received] = []
        self.arrived = threading.Condition()
        self.release = threading.Event()
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.arrived:
                    receiver.received.append(Received(
                        self.command, self.path, dict(self.headers.items()), body,
                        time.monotonic()))
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                    receiver.arrived.notify_all()
                if answer == "hold":
                    while not (receiver.release.is_set() or receiver.closing.is_set()):
                        receiver.release.wait(0.05)
                    if receiver.closing.is_set():
                        return
                    answer = 200
                status, headers = answer if isinstance(answer, tuple) else (int(answer), {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = do_PATCH = _any  # noqa: N815

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.base = f"http://{host}:{self.port}"
        self.url = f"{self.base}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       name="sendai-receiver", daemon=True)
        self.thread.start()

    def wait_for(self, predicate: Callable[[list[Received]], bool], what: str,
                 timeout: float = DEADLINE) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not predicate(self.received):
                left = deadline - time.monotonic()
                if left <= 0:
                    got = [r.headers.get("X-Sendai-Event-Id") for r in self.received]
                    raise AssertionError(f"timed out waiting for {what}; got {got}")
                self.arrived.wait(left)
            return list(self.received)

    def wait_count(self, count: int, timeout: float = DEADLINE) -> list[Received]:
        return self.wait_for(lambda got: len(got) >= count, f"{count} requests", timeout)

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


class NotificationReceiver(Receiver):
    """The plugin session's receiver (docs/plugin.md's `notifications`): every project the
    plugin makes has a connector pointing at `url_for(project_id)`; it answers 200 and keeps
    each notification under that project."""

    def url_for(self, project_id: str) -> str:
        """Where a project's connector sends its notifications."""
        return f"{self.base}/{project_id}"

    def notifications_of(self, project_id: str) -> list[dict[str, Any]]:
        """What the receiver got for this project so far, oldest first."""
        with self.arrived:
            got = [r for r in self.received if r.path.strip("/") == project_id]
        return [_document(r.body) for r in got]

    def forget(self, project_id: str) -> None:
        """Drop what was received for the project (its team was restored)."""
        with self.arrived:
            self.received[:] = [r for r in self.received if r.path.strip("/") != project_id]


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        return {"unparsed": body.decode(errors="replace")}
    return document if isinstance(document, dict) else {"unparsed": body.decode()}
