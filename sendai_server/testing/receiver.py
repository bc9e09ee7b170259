"""The session's webhook receiver (API.md §13's `notifications`): every project the plugin makes
has a connector pointing at `url_for(project_id)`; the receiver answers 200 and keeps each
notification's body under that project."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    receiver: NotificationReceiver

    def _receive(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            document = json.loads(body)
        except ValueError:
            document = {"unparsed": body.decode(errors="replace")}
        self.receiver.keep(self.path.strip("/"), document)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = _receive  # noqa: N815 - http.server's names

    def log_message(self, *_args: Any) -> None:
        pass


class NotificationReceiver:
    """An HTTP server on a free port of 127.0.0.1, in a background thread, until `close()`."""

    def __init__(self) -> None:
        self._received: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        handler = type("Receiver", (_ReceiverHandler,), {"receiver": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sendai-receiver",
            daemon=True)
        self._thread.start()

    def url_for(self, project_id: str) -> str:
        """Where a project's connector sends its notifications."""
        return f"http://127.0.0.1:{self.port}/{project_id}"

    def keep(self, project_id: str, document: dict[str, Any]) -> None:
        with self._lock:
            self._received.setdefault(project_id, []).append(document)

    def notifications_of(self, project_id: str) -> list[dict[str, Any]]:
        """What the receiver got for this project so far, oldest first."""
        with self._lock:
            return list(self._received.get(project_id, ()))

    def forget(self, project_id: str) -> None:
        """Drop what was received for the project (its team was restored)."""
        with self._lock:
            self._received.pop(project_id, None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
