"""Delivery faults (docs/failures.md with §11): a notification delivered two or three times with one
event id, and a notification held, on both databases, jobs run by the worker's own handlers
(`drain`) and deliveries over real HTTP to a receiver."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import auth, count_rows
from tests.support.notifications import connect, log
from tests.support.pipeline import Project, drain


def add_fault(project: Project, **rule: Any) -> dict[str, Any]:
    response = project.client.post(f"/v2/{project.team_id}/test_helpers/faults", json=rule,
                                   headers=auth(project.key))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["payload"]  # type: ignore[no-any-return]


def hits(project: Project) -> list[int]:
    response = project.client.get(f"/v2/{project.team_id}/test_helpers/faults",
                                  headers=auth(project.key))
    return [f["hits"] for f in response.get_json()["payload"]]


@pytest.mark.parametrize("copies", [2, 3])
def test_a_duplicate_fault_delivers_one_notification_that_many_times_with_one_event_id(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver, copies: int,
) -> None:
    project = Project(client, uow, seed)
    connect(project, receiver.url)
    add_fault(project, match={"event": "upload.in_review"}, effect={"duplicate": copies})
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    got = receiver.wait_count(copies)
    assert len({r.headers["X-Sendai-Event-Id"] for r in got}) == 1
    assert len({r.body for r in got}) == 1
    assert [r.headers["X-Sendai-Attempt"] for r in got] == ["1"] * copies
    [entry] = log(project)
    assert (entry["status"], len(entry["attempts"])) == ("delivered", 1)
    assert hits(project) == [1]
    # times: 1 is spent: the next upload's notification goes once
    project.upload((documents.invoice_pdf(), "second.pdf"))
    drain(engine, config)
    assert len(receiver.wait_count(copies + 1)) == copies + 1
    assert len(receiver.received) == copies + 1


def test_a_delivery_fault_matches_its_event_and_connector_only(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receivers: list[Receiver],
) -> None:
    first, second = Receiver(), Receiver()
    receivers.extend([first, second])
    project = Project(client, uow, seed)
    faulted = connect(project, first.url)
    connect(project, second.url)
    add_fault(project, match={"event": "upload.in_review", "connector_id": faulted["id"]},
              effect={"duplicate": 2}, times=None)
    add_fault(project, match={"event": "upload.processed"}, effect={"duplicate": 3})
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    assert len(first.wait_count(2)) == 2
    assert len(second.wait_count(1)) == 1
    assert len(first.received) == 2 and len(second.received) == 1
    assert hits(project) == [1, 0]


def test_a_delay_fault_holds_the_notification_without_spending_an_attempt(
    client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any], engine: Engine, config: Config,
    receiver: Receiver,
) -> None:
    project = Project(client, uow, seed)
    connect(project, receiver.url)
    add_fault(project, match={"event": "upload.in_review"}, effect={"delay_ms": 60_000},
              times=None)
    project.upload((documents.invoice_pdf(), "invoice.pdf"))
    drain(engine, config)
    assert receiver.received == []
    assert [e["status"] for e in log(project)] == ["pending"]
    with engine.connect() as conn:
        seconds = conn.execute(text(
            "SELECT run_at, attempts FROM job WHERE kind = 'deliver'")).one()
    assert seconds.attempts == 0
    # The test moves the clock instead of waiting the minute: the job is due now.
    with engine.begin() as conn:
        conn.execute(text("UPDATE job SET run_at = created_at WHERE kind = 'deliver'"))
    drain(engine, config)
    [delivered] = receiver.wait_count(1)
    assert delivered.headers["X-Sendai-Attempt"] == "1"
    assert [e["status"] for e in log(project)] == ["delivered"]
    assert hits(project) == [1]  # held once, not again on its way out
    assert count_rows(engine, "SELECT count(*) FROM job WHERE kind = 'deliver'") == 0
