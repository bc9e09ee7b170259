"""A small HTTP server a team's tests run in place of its own endpoints: a webhook receiver that
is up or down, an OAuth2 token endpoint. It keeps every request it got and answers with what
`answer(request)` returns. Nothing here knows about sendai-server: Send AI reaches it over
HTTP, as it would the team's real endpoints."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: dict[str, Any] | None = None


class WebhookServer:
    """Serves on a free port of 127.0.0.1 in a background thread until `close()`."""

    def __init__(self, answer: Callable[[Request], Answer] = lambda request: Answer()) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, self.path, dict(self.headers.items()),
                                  self.rfile.read(length))
                with server._lock:
                    server.requests.append(request)
                answer = server.answer(request)
                body = b"" if answer.body is None else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = _handle  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def got(self, path: str) -> list[Request]:
        """The requests to `path`, in the order they came."""
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
