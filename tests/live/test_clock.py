"""A team's clock (docs/clock.md) over live gunicorn (2 workers) and a `sendai-server worker`
process, on SQLite and PostgreSQL, with a real receiver: the worker never moves a frozen
team's upload however long it waits; an advance does, and the notification has arrived by
the time it answers; two advances at once never run a job twice."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, text

from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project, create_team
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import DEADLINE, Receiver
from tests.support import documents
from tests.support.helpers import auth
from tests.support.live_pipeline import SCOPES, Setting
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow


def clock_call(live: Setting, method: str, rest: str = "", **body: Any) -> requests.Response:
    return requests.request(method, f"{live.server.url}/v2/{live.team_id}/test_helpers/clock"
                            f"{rest}", json=body, headers=auth(live.key), timeout=DEADLINE)


def advance(live: Setting, **body: Any) -> dict[str, Any]:
    response = clock_call(live, "POST", "/advance", **body)
    assert response.status_code == 200, response.text
    return response.json()["payload"]  # type: ignore[no-any-return]


def other_team_upload_processed(live: Setting, engine: Engine) -> None:
    """A barrier: another team's upload, taken by the same worker and moved to REVIEWING. The
    worker claims the oldest due job first, so by then it has passed over every older one."""
    with UnitOfWork(engine) as uow:
        team_id = create_team(uow, "Unfrozen")
        project_id, _ = create_project(uow, team_id, "Unfrozen",
                                       ProjectSettings(pipeline="auto"))
        key = create_key(uow, team_id, SCOPES, [project_id]).key
    base = f"{live.server.url}/v2/{team_id}/project/{project_id}"
    response = requests.post(f"{base}/upload", headers=auth(key), timeout=DEADLINE,
                             files={"file": ("other.pdf", documents.other_invoice_pdf())})
    assert response.status_code == 200, response.text
    [task_id] = response.json()["taskIds"]
    wait_until(lambda: requests.get(f"{base}/task/{task_id}", headers=auth(key),
                                    timeout=DEADLINE).json()["payload"]["status"]
               == "REVIEWING", "the other team's upload to be processed")


def test_a_worker_never_moves_a_frozen_upload_and_an_advance_does(
    setting_factory: Any, receivers: list[Receiver], engine: Engine,
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    live = setting_factory()
    live.connect(receiver.url)
    live.worker()
    assert clock_call(live, "POST").status_code == 200
    [task_id] = live.upload(documents.invoice_pdf(), "invoice.pdf")["taskIds"]
    other_team_upload_processed(live, engine)
    other_team_upload_processed(live, engine)  # twice: a poll cycle after the first, too
    assert live.get(f"/task/{task_id}")["payload"]["status"] == "PROCESSING"
    with engine.connect() as conn:
        attempts = conn.execute(text("SELECT attempts FROM job WHERE task_id = :t"),
                                {"t": task_id}).scalar_one()
    assert attempts == 0  # never claimed
    assert receiver.received == []

    answer = advance(live, seconds=1)
    assert [(job["kind"], job["outcome"]) for job in answer["ran"]] == [
        ("extract", "REVIEWING"), ("deliver", "delivered")]
    assert live.get(f"/task/{task_id}")["payload"]["status"] == "REVIEWING"
    [review] = receiver.received  # already there: the advance answered after it was sent
    assert review.event == "UPLOAD_IN_REVIEW"
    assert review.json["created_at"] == answer["ran"][0]["due_at"]  # at the job's moment


def test_two_advances_at_once_run_each_job_once(
    setting_factory: Any, receivers: list[Receiver],
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    live = setting_factory()
    live.connect(receiver.url)
    assert clock_call(live, "POST", frozen_at="2030-01-01T00:00:00Z").status_code == 200
    live.upload(documents.invoice_pdf(), "a.pdf")
    live.upload(documents.other_invoice_pdf(), "b.pdf")
    answers: list[dict[str, Any]] = []
    racers = [threading.Thread(target=lambda: answers.append(advance(live, seconds=5)))
              for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(DEADLINE)
    assert len(answers) == 2
    ran = sorted((answers), key=lambda a: a["now"])
    assert [a["now"] for a in ran] == ["2030-01-01T00:00:05Z", "2030-01-01T00:00:10Z"]
    assert len(ran[0]["ran"]) == 4 and ran[1]["ran"] == []  # one after the other, not mixed
    assert len(receiver.received) == 2
