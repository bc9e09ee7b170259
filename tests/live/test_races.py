"""Racing actions on one task against gunicorn with 4 workers, on SQLite and PostgreSQL
(docs/api/tasks.md Concurrency): whatever the interleaving, the answers, the final state and the
audit trail equal those of some serial order the machine allows. Never a 500; every loser
gets 400 invalid_task_state, the answer it would have had coming second."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
import requests

from sendai_server.domain.lifecycle import TaskStatus, fire
from tests.support.live import Live, live  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer

ROUNDS = 6


@dataclass
class Sim:
    status: TaskStatus
    approved: bool = False
    exported_at: datetime | None = None
    export_failed_at: datetime | None = None


def serial_outcome(actions: list[str], order: tuple[int, ...]) -> dict[str, Any]:
    """What the machine answers when `actions` arrive one by one in `order`."""
    task = Sim(TaskStatus.REVIEWING)
    answers: dict[int, tuple[int, str]] = {}
    winners: list[tuple[str, str, str, bool]] = []
    for index in order:
        before = task.status
        refusal = fire(task, actions[index])
        if refusal is None:
            answers[index] = (200, TaskStatus(task.status).value)
            winners.append((actions[index], before.value, TaskStatus(task.status).value,
                            task.approved))
        else:
            answers[index] = (400, refusal.details["status"])
    return {"answers": answers, "events": winners,
            "final": (TaskStatus(task.status).value, task.approved)}


def race(live: Live, task_id: str, actions: list[str]) -> list[requests.Response]:  # noqa: F811
    barrier = threading.Barrier(len(actions))

    def send(action: str) -> requests.Response:
        barrier.wait()
        return requests.post(f"{live.base}/task/{task_id}/{action}",
                             headers=live.headers("edit"), timeout=60)

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(send, actions))


@pytest.mark.parametrize("actions", [
    ["discard", "complete", "approve"],
    ["approve", "approve"],
    ["discard", "discard"],
    ["discard", "complete", "approve", "approve"],
    ["complete", "complete", "discard"],
], ids="+".join)
def test_racing_actions_end_as_some_serial_order_allows(
    live: Live, actions: list[str]  # noqa: F811
) -> None:
    for _ in range(ROUNDS):
        task_id = live.create_task("REVIEWING")
        responses = race(live, task_id, actions)
        observed: dict[int, tuple[int, str]] = {}
        for index, response in enumerate(responses):
            assert response.status_code in (200, 400), (response.status_code, response.text)
            body = response.json()
            if response.status_code == 200:
                observed[index] = (200, body["payload"]["status"])
            else:
                assert body["error"]["code"] == "invalid_task_state", body
                observed[index] = (400, body["error"]["details"]["status"])
        task = live.get(f"/task/{task_id}").json()["payload"]
        events = live.get(f"/task/{task_id}/events").json()["payload"][1:]  # after create
        seen = {
            "answers": observed,
            "events": [(e["action"], e["from_status"], e["to_status"], e["approved"])
                       for e in events],
            "final": (task["status"], task["approved"]),
        }
        possible = [serial_outcome(actions, order)
                    for order in itertools.permutations(range(len(actions)))]
        assert seen in possible, f"no serial order explains {seen}"
        winners = sum(1 for status, _ in observed.values() if status == 200)
        assert winners == len(events)
