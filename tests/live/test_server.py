"""Real HTTP against a live gunicorn with 4 workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from tests.support.helpers import REPO_ROOT, LiveServer, auth, count_rows, task_path

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer

RACERS = 16


def test_send_ai_example_client_discards_a_task(
    live_server: LiveServer, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    env = {**os.environ, "SENDAI_BASE_URL": live_server.url, "SENDAI_API_KEY": seed["keys"]["edit"]}
    result = subprocess.run(
        [sys.executable, "tests/support/examples/send_ai_discard_client.py",
         seed["team_id"], seed["project_id"], task_id],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)["payload"]
    assert payload["id"] == task_id and payload["status"] == "DISCARDED"

    # The example raises on the 400 of a second discard, as Send AI's docs promise.
    again = subprocess.run(
        [sys.executable, "tests/support/examples/send_ai_discard_client.py",
         seed["team_id"], seed["project_id"], task_id],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert again.returncode != 0 and "400 Client Error" in again.stderr


def test_exactly_one_of_many_racing_discards_wins(
    live_server: LiveServer, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    url = live_server.url + task_path(seed, task_id, "discard")
    barrier = threading.Barrier(RACERS)
    results: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def racer() -> None:
        with requests.Session() as http:
            barrier.wait()
            response = http.post(url, headers=auth(seed["keys"]["edit"]), timeout=60)
            with lock:
                results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=racer) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(code for code, _ in results)
    assert statuses == [200] + [400] * (RACERS - 1)
    for code, body in results:
        if code == 400:
            assert body["error"]["code"] == "invalid_task_state"
            assert body["error"]["details"] == {"status": "DISCARDED", "allowed": ["REVIEWING"]}
    assert count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t "
                              "AND action = 'discard'", t=task_id) == 1


PROBES = [
    ("GET", "/healthz", 200),
    ("GET", "/readyz", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/v2/x/project/y/task/z/nothing", 404),
    ("DELETE", "/v2/x/project/y/task/z/discard", 405),
    ("POST", "/v2/x/project/y/task/z/discard", 401),
]


def test_every_answer_is_json_with_a_request_id(live_server: LiveServer) -> None:
    for method, path, status in PROBES:
        response = requests.request(method, live_server.url + path, timeout=10)
        assert (method, path, response.status_code) == (method, path, status)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers["X-Request-Id"]
