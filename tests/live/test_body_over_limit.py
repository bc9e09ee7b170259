"""A body over SENDAI_MAX_BODY_BYTES, over a live gunicorn: the client reads the 413 JSON answer
instead of a connection reset, however it sends; a body past the drain's bound is cut off
without holding the worker. Every wait has a deadline."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sendai_server.process.gunicorn_worker import JSONErrorSyncWorker
from tests.support.helpers import LiveServer, auth, task_path

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024  # SENDAI_MAX_BODY_BYTES's default
BIG = 3 * 1024 * 1024  # a 3 MB report
# On loopback, 3 MB can fit in the kernel's socket buffers, so a client may finish sending
# before a reset would reach it; 48 MiB cannot (it is under the drain's 64 MiB bound).
SIZES = [BIG, 48 * 1024 * 1024]
DEADLINE = 30.0  # seconds, for any single wait of a client below


@pytest.fixture
def one_worker(database_url: str, seed: dict[str, Any]) -> Iterator[LiveServer]:
    """One worker: were it stuck draining, the next request would not be answered."""
    server = LiveServer(database_url, workers=1)
    yield server
    server.stop()


def _report_url(server: LiveServer, seed: dict[str, Any]) -> str:
    return server.url + task_path(seed, seed["tasks"]["REVIEWING"][0], "report")


def _big_report(size: int = BIG) -> bytes:
    return json.dumps({"issues": ["other"], "message": "x" * size}).encode()


def _assert_413(status: int, body: bytes) -> None:
    assert status == 413, body[:200]
    error = json.loads(body)["error"]
    assert (error["status"], error["code"]) == (413, "payload_too_large")


def _assert_still_serving(server: LiveServer) -> None:
    response = requests.get(f"{server.url}/healthz", timeout=DEADLINE)
    assert response.status_code == 200


@pytest.mark.parametrize("size", SIZES)
def test_requests_with_a_3_mb_body_reads_the_413(
    one_worker: LiveServer, seed: dict[str, Any], size: int
) -> None:
    body = _big_report(size)
    assert len(body) > LIMIT
    for _ in range(3):  # not a lucky timing: every time
        response = requests.post(
            _report_url(one_worker, seed), data=body, timeout=DEADLINE,
            headers={**auth(seed["keys"]["edit"]), "Content-Type": "application/json"},
        )
        _assert_413(response.status_code, response.content)
        assert response.headers["X-Request-Id"]
    _assert_still_serving(one_worker)


@pytest.mark.parametrize("size", SIZES)
def test_urllib_sending_the_whole_body_reads_the_413(
    one_worker: LiveServer, seed: dict[str, Any], size: int
) -> None:
    request = urllib.request.Request(
        _report_url(one_worker, seed), data=_big_report(size), method="POST",
        headers={**auth(seed["keys"]["edit"]), "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=DEADLINE)  # noqa: S310 - our own server
    with raised.value as answer:
        _assert_413(answer.code, answer.read())
    _assert_still_serving(one_worker)


def _raw_post_head(server: LiveServer, seed: dict[str, Any], length: int) -> bytes:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0], "report")
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {seed['keys']['edit']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def _read_until_closed(sock: socket.socket, deadline: float) -> tuple[bytes, bool]:
    """What the server sent until it stopped sending (EOF or reset), and whether it did before
    `deadline` (monotonic)."""
    received = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return received, False
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            return received, False
        except ConnectionResetError:
            return received, True
        if not data:
            return received, True
        received += data


def test_a_body_past_the_drain_bound_is_cut_off_and_the_worker_moves_on(
    one_worker: LiveServer, seed: dict[str, Any]
) -> None:
    bound = JSONErrorSyncWorker.DRAIN_MAX_BYTES
    declared = 2 * bound
    chunk = b" " * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", one_worker.port), timeout=DEADLINE) as sock:
        sock.sendall(_raw_post_head(one_worker, seed, declared))
        sent = 0
        cut_off = False
        started = time.monotonic()
        while sent < declared and time.monotonic() - started < DEADLINE:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            sent += len(chunk)
        # The server stops reading after `bound` bytes (and what the kernel's buffers hold):
        # the client is refused long before it sends all it declared.
        assert cut_off, f"sent all {sent} bytes; the server should have closed past {bound}"
        assert bound <= sent < declared
    _assert_still_serving(one_worker)


def test_a_client_that_stalls_mid_body_is_let_go_after_the_drain_deadline(
    one_worker: LiveServer, seed: dict[str, Any]
) -> None:
    with socket.create_connection(("127.0.0.1", one_worker.port), timeout=DEADLINE) as sock:
        sock.sendall(_raw_post_head(one_worker, seed, BIG) + b" " * (2 * LIMIT))
        # It sends no more, and keeps the connection open. The whole 413 comes at once.
        received, ended = _read_until_closed(sock, time.monotonic() + DEADLINE)
        assert ended, "the answer did not end"
        _assert_413(int(received.split(b" ", 2)[1]), received.split(b"\r\n\r\n", 1)[1])
        # The one worker waits for the missing bytes at most DRAIN_SECONDS (then gunicorn's
        # own close lingers up to 2 s): the next request is answered, while this client is
        # still connected, within the deadline.
        _assert_still_serving(one_worker)
