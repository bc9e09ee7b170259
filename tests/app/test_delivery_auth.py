"""Connector authentication (docs/notifications.md) on SQLite and PostgreSQL: OAuth2 client
credentials and a custom token exchange against a real token endpoint started by the test, which
counts its calls (one per token lifetime, one more after a 401); secrets never shown; and Test
Connection."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.pipeline import delivery_auth
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import auth
from tests.support.notifications import connect, log
from tests.support.pipeline import Project, drain


class TokenEndpoint:
    """A token endpoint on a free port: each call is kept (method, path, query, form, headers)
    and answered by `answer(n)` (n: the call's number from 1) as (status, JSON body)."""

    def __init__(self, answer: Callable[[int], tuple[int, dict[str, Any]]]) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                parts = urlsplit(self.path)
                with endpoint.lock:
                    endpoint.calls.append({
                        "method": self.command, "path": parts.path,
                        "query": parse_qs(parts.query), "form": form,
                        "headers": dict(self.headers.items())})
                    status, body = answer(len(endpoint.calls))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = _any  # noqa: N815

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for thing in made:
        thing.close()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """delivery_auth's clock, moved by the test (now[0] seconds)."""
    now = [1000.0]
    monkeypatch.setattr(delivery_auth, "clock", lambda: now[0])
    return now


def tokens(n: int) -> tuple[int, dict[str, Any]]:
    return 200, {"access_token": f"tok-{n}", "token_type": "Bearer", "expires_in": 600}


OAUTH2 = {"client_id": "client-1", "client_secret": "SECRET-client", "scope": "hooks"}


def test_oauth2_fetches_one_token_per_lifetime_and_one_more_after_a_401(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any], clock: list[float], caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = TokenEndpoint(tokens)
    receiver = Receiver()
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    made = connect(project, receiver.url, oauth2={**OAUTH2, "token_url": endpoint.url})
    assert made["oauth2"] == {**OAUTH2, "token_url": endpoint.url, "client_secret": "***"}
    for n in range(3):
        project.upload((documents.png((8 + n, 8)), f"{n}.png"))
    drain(engine, config)
    got = receiver.wait_count(3)
    assert len(endpoint.calls) == 1  # one token for three deliveries
    [call] = endpoint.calls
    assert (call["method"], call["form"]) == (
        "POST", {"grant_type": ["client_credentials"], "scope": ["hooks"]})
    basic = base64.b64encode(b"client-1:SECRET-client").decode()
    assert call["headers"]["Authorization"] == f"Basic {basic}"
    assert {r.headers["Authorization"] for r in got} == {"Bearer tok-1"}

    clock[0] += 600 - 31  # not yet 30 s before it expires: kept
    project.upload((documents.png((19, 8)), "kept.png"))
    drain(engine, config)
    assert receiver.wait_count(4)[-1].headers["Authorization"] == "Bearer tok-1"
    clock[0] += 2  # 29 s before it expires: renewed
    project.upload((documents.png((20, 8)), "late.png"))
    drain(engine, config)
    assert receiver.wait_count(5)[-1].headers["Authorization"] == "Bearer tok-2"
    assert len(endpoint.calls) == 2

    receiver.script = [401]  # the receiver no longer takes tok-2: a new one, retried once
    project.upload((documents.png((21, 8)), "revoked.png"))
    drain(engine, config)
    last_two = receiver.wait_count(7)[-2:]
    assert [r.headers["Authorization"] for r in last_two] == ["Bearer tok-2", "Bearer tok-3"]
    assert len(endpoint.calls) == 3
    newest = log(project)[0]
    assert newest["status"] == "delivered"
    assert [(a["n"], a["status_code"]) for a in newest["attempts"]] == [(1, 200)]
    listed = client.get(project.path("/test_helpers/connectors"), headers=auth(project.key))
    assert "SECRET" not in listed.get_data(as_text=True)
    assert not [r for r in caplog.records if "SECRET" in r.getMessage()]


def test_a_receiver_that_refuses_the_new_token_too_is_a_failed_attempt_after_two_calls(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any], clock: list[float],
) -> None:
    endpoint = TokenEndpoint(tokens)
    receiver = Receiver(default=401)
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    connect(project, receiver.url, oauth2={**OAUTH2, "token_url": endpoint.url})
    project.upload((documents.png((8, 8)), "a.png"))
    drain(engine, config)  # the first attempt; its retry is not due yet
    assert len(receiver.wait_count(2)) == 2 and len(endpoint.calls) == 2
    [entry] = log(project)
    assert [(a["status_code"], a["error"]) for a in entry["attempts"]] == [(401, None)]


@pytest.mark.parametrize(("method", "expiry"), [
    ("POST", {"expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}),
    ("GET", {"expires_in_ms": 3_600_000}),
])
def test_a_custom_token_exchange_sends_its_query_and_form_and_reads_its_keys(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any], clock: list[float], method: str, expiry: dict[str, Any],
) -> None:
    def answer(n: int) -> tuple[int, dict[str, Any]]:
        return 200, {"data": {"jwt": f"jwt-{n}"}, **expiry}

    endpoint = TokenEndpoint(answer)
    receiver = Receiver()
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    [(expiry_key, _)] = expiry.items()
    exchange = {"method": method, "url": endpoint.url, "query": {"tenant": "t1"},
                "token_key": "data.jwt", "expiry_key": expiry_key,
                "expiry_type": "datetime" if expiry_key == "expires_at" else "milliseconds"}
    if method == "POST":
        exchange["form"] = {"username": "hooks", "password": "SECRET-password"}
    made = connect(project, receiver.url, token_exchange=exchange)
    if method == "POST":
        assert made["token_exchange"]["form"] == {"username": "***", "password": "***"}
    for n in range(2):
        project.upload((documents.png((8 + n, 8)), f"{n}.png"))
    drain(engine, config)
    got = receiver.wait_count(2)
    assert {r.headers["Authorization"] for r in got} == {"Bearer jwt-1"}
    [call] = endpoint.calls
    assert (call["method"], call["query"]) == (method, {"tenant": ["t1"]})
    if method == "POST":
        assert call["form"] == {"username": ["hooks"], "password": ["SECRET-password"]}
    clock[0] += 3600  # expired: the next delivery fetches again
    project.upload((documents.png((30, 8)), "later.png"))
    drain(engine, config)
    assert receiver.wait_count(3)[-1].headers["Authorization"] == "Bearer jwt-2"
    assert len(endpoint.calls) == 2
    listed = client.get(project.path("/test_helpers/connectors"), headers=auth(project.key))
    assert "SECRET" not in listed.get_data(as_text=True)


def test_a_failing_token_endpoint_is_a_failed_attempt_with_its_status(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any], clock: list[float],
) -> None:
    endpoint = TokenEndpoint(lambda n: (503, {"error": "down"}))
    receiver = Receiver()
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    connect(project, receiver.url, oauth2={**OAUTH2, "token_url": endpoint.url})
    project.upload((documents.png((8, 8)), "a.png"))
    drain(engine, config.with_overrides(delivery_attempts=1))
    [entry] = log(project)
    assert entry["status"] == "failed"
    assert [(a["status_code"], a["error"]) for a in entry["attempts"]] == [
        (None, "token endpoint answered 503")]
    assert receiver.received == [] and len(endpoint.calls) == 1


def test_a_token_endpoint_that_does_not_answer_in_the_delivery_timeout_fails_the_attempt(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any], clock: list[float],
) -> None:
    release = threading.Event()

    def hold(n: int) -> tuple[int, dict[str, Any]]:
        release.wait(30)
        return tokens(n)

    endpoint = TokenEndpoint(hold)
    receiver = Receiver()
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    connect(project, receiver.url, oauth2={**OAUTH2, "token_url": endpoint.url})
    project.upload((documents.png((8, 8)), "a.png"))
    try:
        drain(engine, config.with_overrides(delivery_timeout_seconds=0.3, delivery_attempts=1))
    finally:
        release.set()
    [entry] = log(project)
    assert [(a["status_code"], a["error"]) for a in entry["attempts"]] == [
        (None, "token endpoint: no answer within 0.3 s")]
    assert receiver.received == []


@pytest.mark.parametrize("fields", [
    {"oauth2": {"token_url": "ftp://h/", "client_id": "a", "client_secret": "b"}},
    {"oauth2": {"token_url": "http://h/", "client_id": "a"}},
    {"oauth2": {"token_url": "http://h/", "client_id": "a", "client_secret": "b"},
     "bearer": "tok"},
    {"token_exchange": {"url": "http://h/", "token_key": "t", "expiry_type": "hours"}},
    {"token_exchange": {"url": "http://h/", "method": "PUT", "token_key": "t"}},
    {"token_exchange": {"url": "http://h/"}},
])
def test_a_connector_with_an_unusable_token_endpoint_is_refused(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], fields: dict[str, Any],
) -> None:
    project = Project(client, uow, seed)
    response = project.post("/test_helpers/connectors", json={"url": "http://h/", **fields})
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"


def test_test_connection_sends_a_test_event_now_and_answers_what_the_receiver_said(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine,
    closing: list[Any], clock: list[float],
) -> None:
    endpoint = TokenEndpoint(tokens)
    receiver = Receiver([200, 503])
    closing.extend([endpoint, receiver])
    project = Project(client, uow, seed)
    made = connect(project, receiver.url, secret="whsec_dGVzdA==",
                   oauth2={**OAUTH2, "token_url": endpoint.url})
    path = f"/test_helpers/connectors/{made['id']}/test"
    first = project.post(path)
    assert first.status_code == 200, first.get_json()
    payload = first.get_json()["payload"]
    assert (payload["status_code"], payload["error"]) == (200, None)
    assert payload["duration_ms"] >= 0
    [got] = receiver.wait_count(1)
    assert (got.event, got.json["team_id"], got.json["upload"]) == (
        "TEST", project.team_id, None)
    assert got.headers["Authorization"] == "Bearer tok-1"
    assert "X-Sendai-Signature" in got.headers and "webhook-signature" in got.headers
    assert project.post(path).get_json()["payload"]["status_code"] == 503
    assert log(project) == []  # outside the outbox
    assert project.post("/test_helpers/connectors/conn_unknown1234/test").status_code == 404
    other = Project(client, uow, seed)
    assert other.post(path.replace(project.project_id, other.project_id)).status_code == 404


def test_the_inspector_shows_each_connectors_authentication_and_whether_it_is_disabled(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    closing: list[Any],
) -> None:
    from sendai_server.services.keys import create_key
    from tests.support.inspector import sign_in

    gone = Receiver(default=410)
    closing.append(gone)
    project = Project(client, uow, seed)
    oauth = connect(project, "http://127.0.0.1:9/hook", events=["task.export"],
                    oauth2={**OAUTH2, "token_url": "http://127.0.0.1:9/token"})
    exchange = connect(project, "http://127.0.0.1:9/other", events=["task.export"],
                       token_exchange={"url": "http://127.0.0.1:9/t", "token_key": "t",
                                       "form": {"password": "SECRET-form"}})
    disabled = connect(project, gone.url, bearer="SECRET-bearer")
    project.upload((documents.png((8, 8)), "a.png"))
    drain(engine, config)
    gone.wait_count(1)
    reader = create_key(uow, project.team_id, ["upload.read"], [project.project_id]).key
    assert sign_in(client, reader).status_code == 303
    page = client.get(f"/inspect/{project.team_id}/project/{project.project_id}/notifications")
    assert page.status_code == 200
    rows = {c: page.text[page.text.index(f'data-connector-id="{c}"'):] for c in (
        oauth["id"], exchange["id"], disabled["id"])}
    assert '<td class="auth">oauth2</td>' in rows[oauth["id"]].split("</tr>")[0]
    assert '<td class="auth">token_exchange</td>' in rows[exchange["id"]].split("</tr>")[0]
    row = rows[disabled["id"]].split("</tr>")[0]
    assert '<td class="auth">bearer</td>' in row and "<strong>disabled</strong>" in row
    assert "active" in rows[oauth["id"]].split("</tr>")[0]
    assert "SECRET" not in page.text
