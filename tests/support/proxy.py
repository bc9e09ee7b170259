"""Proxy mode (docs/proxy.md) in-process: the proxy's WSGI app in werkzeug's test client
(`make_proxy`), its upstream a `Stub` (httpx.MockTransport) that answers as told and notes what
it was sent. The fixtures (`contract`, `stub`, `make_proxy`) reach the app layer through
tests/app/conftest.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from werkzeug.test import Client

from sendai_server.proxy.app import ProxyApp
from sendai_server.proxy.contract import Contract, this_servers_document
from sendai_server.proxy.recording import Recording

BASE = "/v2/team_a/project/proj_b"
KEY = "sk_proxytestsecretkey0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}
TASK = {"id": "task_c", "name": "Invoice", "created_at": "2024-01-15T10:30:00Z", "meta": [],
        "status": "REVIEWING", "step_type": "EXTRACT", "upload_id": None,
        "project_id": "proj_b", "approved": False, "exported_at": None,
        "export_failed_at": None, "last_opened_at": None, "pages": []}


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract(this_servers_document())


class BufferedClient(Client):
    """werkzeug's test client reading each answer whole and closing it, as a server does (the
    proxy records an exchange when its answer is closed)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


class Stub:
    """The upstream: `answer` decides each answer; `seen` holds every request it got."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.answer: Callable[[httpx.Request], httpx.Response] = lambda _r: httpx.Response(
            200, json={"payload": TASK})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.seen.append(request)
        answer = self.answer(request)
        if not isinstance(answer.stream, httpx.ByteStream):  # a stream of the test's own
            return answer
        # As the network gives it: a stream not yet read (httpx reads `content=` at once).
        return httpx.Response(answer.status_code, headers=answer.headers,
                              stream=httpx.ByteStream(answer.content))


@pytest.fixture
def stub() -> Stub:
    return Stub()


@pytest.fixture
def make_proxy(contract: Contract, stub: Stub,
               tmp_path: Path) -> Iterator[Callable[..., Client]]:
    apps: list[ProxyApp] = []

    def make(*, strict: bool = False, record: bool = False,
             upstream: str = "http://upstream.test") -> Client:
        recording = Recording(tmp_path / "exchanges.jsonl") if record else None
        app = ProxyApp(upstream, contract, strict=strict, recording=recording,
                       transport=httpx.MockTransport(stub))
        apps.append(app)
        return BufferedClient(app, use_cookies=False)

    yield make
    for app in apps:
        app.close()
