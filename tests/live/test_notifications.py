"""Notifications over live gunicorn and `sendai-server worker` processes, on SQLite and
PostgreSQL, delivered to a real receiver started by the test; and the faults: a worker killed
(-9) while a delivery is in flight, a database connection dropped during one."""

from __future__ import annotations

from typing import Any

import pytest

from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.databases import terminate_other_connections
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow

SECRET = "whsec_live_SECRET"


def test_an_invoice_notifies_review_then_export_and_processed_over_live_processes(
    setting_factory: Any, receivers: list[Receiver],
) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    live = setting_factory()
    live.connect(receiver.url, secret=SECRET, bearer="tok_SECRET")
    live.worker()
    upload = live.upload(documents.invoice_pdf(), "invoice.pdf")
    [task_id] = upload["taskIds"]
    [review] = receiver.wait_count(1)
    assert review.event == "UPLOAD_IN_REVIEW"
    assert review.json["upload"] == live.get(f"/upload/{upload['id']}")["payload"]
    assert review.headers["Authorization"] == "Bearer tok_SECRET"
    assert live.post(f"/task/{task_id}/complete").status_code == 200
    _, export, processed = receiver.wait_count(3)
    assert [export.event, processed.event] == ["TASK_EXPORT", "UPLOAD_PROCESSED"]
    assert export.json["task"]["id"] == task_id
    assert export.json["task"]["status"] == "COMPLETED"
    assert len({r.headers["X-Sendai-Event-Id"] for r in receiver.received}) == 3
    task = wait_until(lambda: (t := live.get(f"/task/{task_id}")["payload"])["exported_at"]
                      and t, "exported_at")
    exported = dict(export.json["task"])
    # The payload's task is the public task, plus its parsed values (docs/notifications.md).
    assert exported.pop("extracted_data")["total_amount"] == 1234.56
    assert exported == {**task, "exported_at": None}
    unlock = live.post(f"/task/{task_id}/unlock")
    assert (unlock.status_code, unlock.json()["error"]["code"]) == (400, "invalid_task_state")
    assert receiver.wait_count(3) and len(receiver.received) == 3  # exactly these three
    entries = live.get("/notifications", params={"status": "delivered"})["payload"]
    assert len(entries) == 3 and all(e["attempts"][-1]["status_code"] == 200 for e in entries)
    assert "SECRET" not in live.logs()


def test_a_worker_killed_during_a_delivery_leaves_it_to_the_next_worker(
    setting_factory: Any, receivers: list[Receiver],
) -> None:
    receiver = Receiver(["hold"])  # the first attempt stays open until the test says
    receivers.append(receiver)
    # A delivery's lease is max(SENDAI_JOB_LEASE_SECONDS, 2 × timeout + 1) = 7 s here.
    live = setting_factory(SENDAI_DELIVERY_TIMEOUT_SECONDS="3", SENDAI_JOB_LEASE_SECONDS="1")
    live.connect(receiver.url, events=["upload.in_review"])
    first = live.worker()
    live.upload(documents.invoice_pdf(), "invoice.pdf")
    [held] = receiver.wait_count(1)  # in flight
    first.kill()  # -9, with the request open
    receiver.release.set()
    live.worker()
    got = receiver.wait_count(2)
    assert {r.headers["X-Sendai-Event-Id"] for r in got} == {held.headers["X-Sendai-Event-Id"]}
    assert [r.headers["X-Sendai-Attempt"] for r in got] == ["1", "2"]
    [entry] = wait_until(lambda: [e for e in live.get("/notifications")["payload"]
                                  if e["status"] == "delivered"], "the log to say delivered")
    assert [(a["n"], a["status_code"]) for a in entry["attempts"]] == [(1, None), (2, 200)]
    assert "no answer recorded" in entry["attempts"][0]["error"]


def test_a_database_connection_dropped_during_a_delivery_is_reconnected_and_nothing_is_lost(
    backend: str, database_url: str, setting_factory: Any, receivers: list[Receiver],
) -> None:
    if backend != "postgresql":
        pytest.skip("pg_terminate_backend: SQLite has no server to drop a connection")
    receiver = Receiver(["hold"])
    receivers.append(receiver)
    live = setting_factory()
    live.connect(receiver.url)
    live.worker()
    [first] = live.upload(documents.invoice_pdf(), "a.pdf")["taskIds"]
    receiver.wait_count(1)  # in flight, the worker's connections idle
    assert terminate_other_connections(database_url) >= 1  # the worker's, and gunicorn's
    receiver.release.set()
    [entry] = wait_until(lambda: [e for e in live.get("/notifications")["payload"]
                                  if e["status"] == "delivered"], "the attempt recorded")
    assert [(a["n"], a["status_code"]) for a in entry["attempts"]] == [(1, 200)]
    # The worker carries on: the next upload is extracted and its notification delivered.
    [second] = live.upload(documents.png((32, 32)), "b.png")["taskIds"]
    got = receiver.wait_count(2)
    assert len({r.headers["X-Sendai-Event-Id"] for r in got}) == 2  # no second copy of the first
    assert live.get(f"/task/{second}")["payload"]["status"] == "REVIEWING"
    assert live.get(f"/task/{first}")["payload"]["status"] == "REVIEWING"
    assert "database unavailable while recording attempt 1" in live.logs()
