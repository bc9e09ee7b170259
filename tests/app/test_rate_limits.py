"""Per-team rate limits (docs/api/index.md): 429 rate_limited with Retry-After, counted per team
(every key of a team draws on one budget; by the team's id, never a plain key), checked after
authentication and before visibility; the probes, the spec and the docs are never limited;
Redis shares one count across gunicorn workers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient

from sendai_server import create_app
from sendai_server.config import Config, ConfigError
from sendai_server.web.context import engine_of
from tests.support.helpers import LiveServer, auth, task_path
from tests.support.hostile import assert_json_error

LIMIT = 3
REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def limited_app(config: Config) -> Iterator[Flask]:
    app = create_app(replace(config, rate_limit=f"{LIMIT}/hour"))
    yield app
    engine_of(app).dispose()


@pytest.fixture
def limited(limited_app: Flask) -> FlaskClient:
    return limited_app.test_client()


def _exhaust(client: FlaskClient, path: str, key: str) -> None:
    for _ in range(LIMIT):
        assert client.get(path, headers=auth(key)).status_code == 200


def test_request_over_the_limit_is_429_rate_limited_with_retry_after(
    limited: FlaskClient, seed: dict[str, Any]
) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    _exhaust(limited, path, seed["keys"]["read"])
    response = limited.get(path, headers=auth(seed["keys"]["read"]))
    error = assert_json_error(response.status_code, response.content_type, response.data)
    assert (response.status_code, error["code"]) == (429, "rate_limited")
    assert 0 < int(response.headers["Retry-After"]) <= 3600
    assert error["details"]["limit"] == f"{LIMIT} per 1 hour"


def test_limit_is_counted_per_team_not_per_key_or_address(
    limited: FlaskClient, seed: dict[str, Any]
) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    _exhaust(limited, path, seed["keys"]["read"])
    assert limited.get(path, headers=auth(seed["keys"]["read"])).status_code == 429
    # Another key of the same team draws on the same budget.
    assert limited.get(path, headers=auth(seed["keys"]["edit"])).status_code == 429
    # Same client address, a key of another team: that team's own count.
    other = seed["other"]
    other_path = f"/v2/{other['team_id']}/project/{other['project_id']}/task/{other['task_id']}"
    assert limited.get(other_path, headers=auth(other["key"])).status_code == 200


def test_every_key_of_a_team_draws_on_one_budget(
    limited: FlaskClient, seed: dict[str, Any]
) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    keys = [seed["keys"]["read"], seed["keys"]["edit"], seed["keys"]["helpers"]]
    statuses = [limited.get(path, headers=auth(keys[n % 3])).status_code
                for n in range(LIMIT + 3)]
    assert statuses == [200] * LIMIT + [429] * 3


def test_limit_is_shared_by_every_endpoint_of_a_key(
    limited: FlaskClient, seed: dict[str, Any]
) -> None:
    _exhaust(limited, task_path(seed, seed["tasks"]["REVIEWING"][0]), seed["keys"]["edit"])
    discard = task_path(seed, seed["tasks"]["REVIEWING"][1], "discard")
    assert limited.post(discard, headers=auth(seed["keys"]["edit"])).status_code == 429


def test_limit_is_checked_after_authentication_and_before_visibility(
    limited: FlaskClient, seed: dict[str, Any]
) -> None:
    key = seed["keys"]["read"]
    _exhaust(limited, task_path(seed, seed["tasks"]["REVIEWING"][0]), key)
    # A bad key is a 401, never a 429; an exhausted key on a project it cannot see is a 429.
    bad = limited.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                      headers=auth("sk_" + "x" * 43))
    assert bad.status_code == 401
    other = seed["other"]
    hidden = f"/v2/{other['team_id']}/project/{other['project_id']}/task/{other['task_id']}"
    assert limited.get(hidden, headers=auth(key)).status_code == 429


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json", "/docs",
                                  "/docs/assets/swagger-ui.css"])
def test_probes_spec_and_docs_are_never_limited(
    limited: FlaskClient, seed: dict[str, Any], path: str
) -> None:
    _exhaust(limited, task_path(seed, seed["tasks"]["REVIEWING"][0]), seed["keys"]["read"])
    for _ in range(LIMIT * 3):
        response = limited.get(path, headers=auth(seed["keys"]["read"]))
        assert response.status_code == 200, path


def test_limiter_counts_by_team_id_and_never_stores_a_plain_key(
    limited_app: Flask, limited: FlaskClient, seed: dict[str, Any]
) -> None:
    _exhaust(limited, task_path(seed, seed["tasks"]["REVIEWING"][0]), seed["keys"]["read"])
    storage = limited_app.extensions["sendai_rate_limit"].limiter.storage
    stored = json.dumps(list(storage.storage), default=str)  # memory storage: its keys
    assert seed["team_id"] in stored and "key_" not in stored
    for plain in seed["keys"].values():
        assert plain not in stored


def test_no_limit_configured_means_no_429(client: FlaskClient, seed: dict[str, Any]) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    for _ in range(LIMIT * 3):
        assert client.get(path, headers=auth(seed["keys"]["read"])).status_code == 200


# --- Redis, across gunicorn workers -------------------------------------------------------------

REDIS_LIMIT = 10
REQUESTS = 40


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.fail("Redis on 127.0.0.1:6379 is needed for the shared rate-limit test")
    prefix = f"sendai-test-{uuid.uuid4().hex}"
    yield prefix
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


@pytest.mark.slow
def test_redis_shares_one_count_across_four_gunicorn_processes(
    database_url: str, seed: dict[str, Any], redis_prefix: str, tmp_path: Path
) -> None:
    # Four servers of one worker each, as four hosts would run them: every request's process
    # is known, so the sharing is shown whichever way a kernel spreads connections (with one
    # server of four gthread workers, one worker could accept them all, and did in CI).
    env = {"SENDAI_RATE_LIMIT": f"{REDIS_LIMIT}/hour", "SENDAI_RATE_LIMIT_STORAGE": REDIS_URL,
           "SENDAI_RATE_LIMIT_PREFIX": redis_prefix, "SENDAI_LOG_LEVEL": "INFO"}
    servers: list[LiveServer] = []
    try:
        for n in range(4):
            servers.append(LiveServer(database_url, workers=1, env=env,
                                      log_path=tmp_path / f"gunicorn-{n}.log"))
        path = task_path(seed, seed["tasks"]["REVIEWING"][0])

        def fetch(n: int) -> int:
            url = servers[n % len(servers)].url + path
            return requests.get(url, headers=auth(seed["keys"]["read"]), timeout=30).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(fetch, range(REQUESTS)))
    finally:
        for server in servers:
            server.stop()
    assert statuses.count(200) == REDIS_LIMIT
    assert statuses.count(429) == REQUESTS - REDIS_LIMIT
    for n in range(4):
        lines = [json.loads(line) for line in (tmp_path / f"gunicorn-{n}.log").read_text()
                 .splitlines() if line.startswith("{") and '"event": "request"' in line]
        served = [line for line in lines if line["path"].startswith("/v2/")]
        assert len(served) == REQUESTS // 4, f"server {n} logged {len(served)} requests"


@pytest.mark.parametrize("value", ["lots", "600", "600/fortnight", "-1/minute"])
def test_a_rate_limit_that_does_not_parse_is_refused_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match="SENDAI_RATE_LIMIT"):
        Config.from_env({"SENDAI_RATE_LIMIT": value})
