"""Faults on demand (docs/failures.md) against live gunicorn (4 workers, gthread) on both databases,
over real sockets: a dropped connection before and after the commit, a delay that slows nobody
else and holds no connection, `after`, and sixteen racing requests against `times: 1`.
Every wait has a deadline; the races start at a barrier."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from sqlalchemy import text

from sendai_server.services import faults
from tests.support.live import Live, live  # noqa: F401 - the module's live server fixture

pytestmark = pytest.mark.slow

TIMEOUT = 30


def _faults_url(server: Live) -> str:
    return f"{server.server.url}/v2/{server.seed['team_id']}/test_helpers/faults"


def add_fault(server: Live, **rule: Any) -> dict[str, Any]:
    response = requests.post(_faults_url(server), json=rule, headers=server.headers(),
                             timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()["payload"]  # type: ignore[no-any-return]


def listed(server: Live) -> list[dict[str, Any]]:
    response = requests.get(_faults_url(server), headers=server.headers(), timeout=TIMEOUT)
    return response.json()["payload"]  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _no_faults_left(live: Live) -> Iterator[None]:  # noqa: F811
    yield
    requests.delete(_faults_url(live), headers=live.headers(), timeout=TIMEOUT)


def status(server: Live, task_id: str) -> str:
    with server.engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM task WHERE id = :t"),
                                {"t": task_id}).scalar_one())


def discard(server: Live, task_id: str) -> requests.Response:
    return requests.post(f"{server.base}/task/{task_id}/discard", headers=server.headers("edit"),
                         timeout=TIMEOUT)


@pytest.mark.parametrize("after", [False, True])
def test_a_dropped_connection_has_no_answer_before_or_after_the_commit(
    live: Live, after: bool  # noqa: F811
) -> None:
    task_id = live.create_task("REVIEWING")
    fault = add_fault(live, match={"operation": "discardTask", "task_id": task_id},
                      effect={"drop": True, "after": after})
    with pytest.raises(requests.ConnectionError) as raised:
        discard(live, task_id)
    assert "without response" in str(raised.value) or "reset" in str(raised.value).lower()
    assert status(live, task_id) == ("DISCARDED" if after else "REVIEWING")
    [seen] = listed(live)
    assert (seen["id"], seen["hits"], seen["remaining"]) == (fault["id"], 1, 0)
    # the server goes on: the retry meets the state the drop left
    retry = discard(live, task_id)
    if after:
        assert (retry.status_code, retry.json()["error"]["code"]) == (400, "invalid_task_state")
    else:
        assert retry.status_code == 200


def test_after_the_change_commits_and_the_client_is_told_it_failed(
    live: Live  # noqa: F811
) -> None:
    task_id = live.create_task("REVIEWING")
    fault = add_fault(live, match={"operation": "discardTask", "task_id": task_id},
                      effect={"status": 503, "retry_after": 1, "after": True})
    response = discard(live, task_id)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert (response.headers["Retry-After"], response.headers["X-Sendai-Fault"]) == (
        "1", fault["id"])
    assert status(live, task_id) == "DISCARDED"
    retry = discard(live, task_id)
    assert (retry.status_code, retry.json()["error"]["code"]) == (400, "invalid_task_state")


def _idle_in_transaction(server: Live) -> int:
    with server.engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'")).scalar_one())


def test_a_delay_holds_no_connection_or_lock_and_slows_no_other_request(
    live: Live  # noqa: F811
) -> None:
    delayed_task, other_task = live.create_task("REVIEWING"), live.create_task("REVIEWING")
    delay_ms = 3000
    add_fault(live, match={"operation": "discardTask", "task_id": delayed_task},
              effect={"delay_ms": delay_ms, "after": True})
    answer: dict[str, Any] = {}

    def delayed() -> None:
        started = time.monotonic()
        answer["response"] = discard(live, delayed_task)
        answer["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=delayed)
    started = time.monotonic()
    thread.start()
    # The delayed request has committed its change and is waiting once its task is DISCARDED.
    deadline = started + 10
    while status(live, delayed_task) != "DISCARDED":
        assert time.monotonic() < deadline, "the delayed discard never committed"
        time.sleep(0.02)
    assert thread.is_alive()
    # Meanwhile: a write on another task, and reads, each answered at once.
    others = [discard(live, other_task)] + [
        live.get(f"/task/{delayed_task}") for _ in range(8)]
    during = time.monotonic() - started
    if live.backend == "postgresql":
        assert _idle_in_transaction(live) == 0  # no transaction (no lock) left open
    assert thread.is_alive(), "the other requests took as long as the delay"
    assert during < delay_ms / 1000
    assert [r.status_code for r in others] == [200] * 9
    assert others[1].json()["payload"]["status"] == "DISCARDED"
    thread.join(TIMEOUT)
    response = answer["response"]
    assert response.status_code == 200
    assert response.json()["payload"]["status"] == "DISCARDED"
    assert "X-Sendai-Fault" in response.headers
    assert answer["elapsed"] >= delay_ms / 1000


def test_sixteen_racing_requests_against_times_one_fault_exactly_one(
    live: Live  # noqa: F811
) -> None:
    task_id = live.seed["tasks"]["REVIEWING"][0]
    fault = add_fault(live, match={"operation": "getTask"}, effect={"status": 503}, times=1)
    barrier = threading.Barrier(16, timeout=TIMEOUT)

    def get(_: int) -> int:
        with requests.Session() as session:
            session.get(f"{live.server.url}/healthz", timeout=TIMEOUT)  # connected first
            barrier.wait()
            return session.get(f"{live.base}/task/{task_id}", headers=live.headers("read"),
                               timeout=TIMEOUT).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = sorted(pool.map(get, range(16)))
    assert statuses == [200] * 15 + [503]
    [seen] = listed(live)
    assert (seen["id"], seen["hits"], seen["remaining"]) == (fault["id"], 1, 0)


def test_a_seeded_probability_gives_the_same_sequence_across_workers(
    live: Live  # noqa: F811
) -> None:
    task_id = live.seed["tasks"]["REVIEWING"][0]
    add_fault(live, match={"operation": "getTask"}, effect={"status": 503}, times=None,
              probability=0.3, seed=2026)
    got = []
    for _ in range(20):  # a new connection each: gunicorn hands them to any worker
        got.append(requests.get(f"{live.base}/task/{task_id}", headers=live.headers("read"),
                                timeout=TIMEOUT).status_code == 503)
    assert got == [faults.chosen(2026, n, 0.3) for n in range(1, 21)]
