"""A failure of the database is not a bug (issue 13): a request that finds it unreachable, or
its schema not this version's, answers 503 `unavailable` with Retry-After in the one JSON
error shape, never 500; a connection the database dropped between two requests costs the next
request nothing; and once the database is back, requests succeed without a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.demo import seed_demo
from sendai_server.store import migrate
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support.databases import terminate_other_connections
from tests.support.helpers import LiveServer, auth, free_port, task_path
from tests.support.processes import DEADLINE, wait_until
from tests.support.tcp_proxy import TcpProxy


def _assert_unavailable(response: Any) -> None:
    """A 503 `unavailable` in the JSON error shape, from the Flask test client or requests."""
    assert response.status_code == 503
    body = response.get_json() if hasattr(response, "get_json") else response.json()
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["status"] == 503
    assert int(response.headers["Retry-After"]) >= 1


def test_a_connection_terminated_between_two_requests_costs_the_next_one_nothing(
    backend: str, database_url: str, client: FlaskClient, engine: Engine, seed: dict[str, Any]
) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL ends a backend; SQLite has no server to drop a connection")
    headers = auth(seed["keys"]["edit"])
    task_id = seed["tasks"]["REVIEWING"][0]
    assert client.get(task_path(seed, task_id), headers=headers).status_code == 200
    assert engine.pool.checkedin() >= 1  # the pooled connection the next request will get
    assert terminate_other_connections(database_url) >= 1
    assert client.get(task_path(seed, task_id), headers=headers).status_code == 200
    response = client.post(task_path(seed, task_id, "discard"), headers=headers)
    assert response.status_code == 200
    assert response.get_json()["payload"]["status"] == "DISCARDED"


@pytest.mark.parametrize("first_request", [True, False], ids=["serving", "first_request"])
def test_every_dead_connection_in_the_pool_is_dropped_and_the_request_answered(
    backend: str, database_url: str, client: FlaskClient, engine: Engine, seed: dict[str, Any],
    first_request: bool,
) -> None:
    """The database ended every backend while the pool held several connections (gthread
    workers hold one per thread): the next request drops each dead one it meets, whether it
    is the app's first (its schema check reads first) or not (authentication reads first).
    Found by a live notifications test, with 503s."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL ends a backend; SQLite has no server to drop a connection")
    headers = auth(seed["keys"]["edit"])
    task_id = seed["tasks"]["REVIEWING"][0]
    if not first_request:
        assert client.get(task_path(seed, task_id), headers=headers).status_code == 200
    held = [engine.connect() for _ in range(4)]
    for conn in held:
        conn.exec_driver_sql("SELECT 1")
    for conn in held:
        conn.close()
    assert engine.pool.checkedin() >= 4
    assert terminate_other_connections(database_url) >= 4
    for _ in range(3):
        assert client.get(task_path(seed, task_id), headers=headers).status_code == 200


def test_a_database_never_migrated_answers_503_then_serves_once_migrated(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(Config(env="test", database_url=url))
    client = app.test_client()
    path = "/v2/team_x/project/proj_x/task/task_x"
    response = client.get(path, headers=auth("sk_" + "a" * 43))
    _assert_unavailable(response)
    assert "sendai-server db upgrade" in response.get_json()["error"]["message"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503

    migrate.upgrade(url)
    with UnitOfWork(engine_of(app)) as uow:
        seed = seed_demo(uow)
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.get(task_path(seed, task_id), headers=auth(seed["keys"]["read"]))
    assert response.status_code == 200  # the same app: no restart
    engine_of(app).dispose()


@pytest.mark.slow
def test_live_gunicorn_survives_its_connections_being_terminated(
    backend: str, database_url: str, seed: dict[str, Any],
) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL ends a backend; SQLite has no server to drop a connection")
    server = LiveServer(database_url, workers=2)
    try:
        http = requests.Session()
        http.headers.update(auth(seed["keys"]["edit"]))
        base = server.url
        tasks = seed["tasks"]["REVIEWING"]
        for _ in range(6):  # every worker has a pooled connection
            assert http.get(base + task_path(seed, tasks[0]), timeout=10).status_code == 200
        assert terminate_other_connections(database_url) >= 2
        for _ in range(6):  # whichever worker answers, its connection was dead
            assert http.get(base + task_path(seed, tasks[0]), timeout=10).status_code == 200
        assert terminate_other_connections(database_url) >= 1
        response = http.post(base + task_path(seed, tasks[1], "discard"), timeout=10)
        assert response.status_code == 200, response.text
    finally:
        server.stop()


@pytest.mark.slow
def test_live_gunicorn_on_an_unreachable_database_answers_503_and_logs_it_once(
    tmp_path: Path,
) -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing_listens"
    log_path = tmp_path / "server.log"
    server = LiveServer(url, workers=1, log_path=log_path, ready_path="/healthz",
                        env={"SENDAI_LOG_LEVEL": "INFO"})
    try:
        path = "/v2/team_x/project/proj_x/task/task_x"
        for _ in range(5):
            _assert_unavailable(requests.get(server.url + path, headers=auth("sk_" + "a" * 43),
                                             timeout=10))
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        ready = requests.get(server.url + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["error"]["code"] == "not_ready"
    finally:
        server.stop()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    outages = [line for line in lines if line.get("message", "").startswith("database unavail")]
    assert len(outages) == 1, outages  # once per outage, not once per request
    assert not [line for line in lines if line.get("level") == "ERROR" and "traceback" in line]
    statuses = [line["status"] for line in lines if line.get("event") == "request"]
    assert statuses.count(503) >= 5 and 500 not in statuses


@pytest.mark.slow
def test_live_gunicorn_answers_503_while_the_database_is_down_and_serves_when_it_is_back(
    backend: str, database_url: str, seed: dict[str, Any], tmp_path: Path,
) -> None:
    """The database goes away under a serving gunicorn (its connections cut, nothing listening
    at its address) and comes back at the same address: meanwhile /v2 answers 503 and nothing
    changes; afterwards every request succeeds, without a restart, and the log says both."""
    if backend != "postgresql":
        pytest.skip("a database server to go away: SQLite's is a file")
    target = make_url(database_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    log_path = tmp_path / "server.log"
    server = LiveServer(proxy.url(database_url), workers=2, log_path=log_path,
                        env={"SENDAI_LOG_LEVEL": "INFO"})
    try:
        http = requests.Session()
        http.headers.update(auth(seed["keys"]["edit"]))
        reviewing = seed["tasks"]["REVIEWING"]
        for _ in range(6):  # the workers' pools hold connections through the proxy
            assert http.get(server.url + task_path(seed, reviewing[0]), timeout=10).ok

        proxy.cut()
        for _ in range(4):
            _assert_unavailable(http.get(server.url + task_path(seed, reviewing[0]), timeout=10))
            _assert_unavailable(http.post(server.url + task_path(seed, reviewing[1], "discard"),
                                          timeout=10))
        assert http.get(server.url + "/healthz", timeout=10).status_code == 200
        assert http.get(server.url + "/readyz", timeout=10).status_code == 503

        proxy.restore()
        wait_until(lambda: http.get(server.url + "/readyz", timeout=10).status_code == 200,
                   "readyz once the database is back", DEADLINE)
        for _ in range(6):
            assert http.get(server.url + task_path(seed, reviewing[0]), timeout=10).ok
        discarded = http.post(server.url + task_path(seed, reviewing[1], "discard"), timeout=10)
        assert discarded.status_code == 200, discarded.text
        assert discarded.json()["payload"]["status"] == "DISCARDED"
    finally:
        server.stop()
        proxy.close()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]
    messages = [line.get("message", "") for line in lines]
    assert any(m.startswith("database unavailable") for m in messages)
    assert "database available again" in messages
    statuses = [line["status"] for line in lines if line.get("event") == "request"]
    assert statuses.count(503) >= 8 and 500 not in statuses
