"""The plugin's HTTP client and notifications receiver on their own (sendai_server.testing's
client.py and receiver.py), without the application: the receiver is the server here."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from sendai_server.testing.client import HelperClient, SendAIHelperError
from sendai_server.testing.receiver import NotificationReceiver


@pytest.fixture
def receiver() -> Iterator[NotificationReceiver]:
    receiver = NotificationReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def client() -> Iterator[HelperClient]:
    client = HelperClient("http://127.0.0.1:9")
    try:
        yield client
    finally:
        client.close()


def test_the_receiver_keeps_each_projects_notifications_and_an_empty_answer_is_an_empty_dict(
    receiver: NotificationReceiver, client: HelperClient,
) -> None:
    assert client.call("POST", receiver.url_for("proj_a"), "k", json={"event": "E1"}) == {}
    client.call("PUT", receiver.url_for("proj_b"), "k", json={"event": "E2"})
    client.call("PATCH", receiver.url_for("proj_a"), "k", json={"event": "E3"})

    assert receiver.notifications_of("proj_a") == [{"event": "E1"}, {"event": "E3"}]
    assert receiver.notifications_of("proj_b") == [{"event": "E2"}]
    assert receiver.notifications_of("proj_c") == []


class _Refusing(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status and body its path names."""

    ANSWERS = {
        "/json": (400, b'{"error": {"code": "invalid_task_state", "message": "not now"}}'),
        "/html": (502, b"<html>Bad Gateway</html>"),
    }

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.ANSWERS[self.path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize("path, status, says", [
    ("/json", 400, "(invalid_task_state: not now)"),
    ("/html", 502, "('<html>Bad Gateway</html>')"),
])
def test_a_refusal_raises_with_the_status_and_what_the_answer_said(
    client: HelperClient, path: str, status: int, says: str,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}{path}"
    try:
        with pytest.raises(SendAIHelperError) as refused:
            client.call("POST", url, "k", json={})
    finally:
        server.shutdown()
        server.server_close()

    assert refused.value.status == status
    assert str(refused.value) == f"POST {url} answered {status} {says}"
