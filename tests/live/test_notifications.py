"""Notifications over live gunicorn and `sendai-server worker` processes, on SQLite and
PostgreSQL, delivered to a real receiver started by the test; and the faults: a worker killed
(-9) while a delivery is in flight, a database connection dropped during one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project, create_team
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import DEADLINE, Receiver
from tests.support import documents
from tests.support.databases import terminate_other_connections
from tests.support.helpers import REPO_ROOT, LiveServer, auth
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow

SCOPES = ["upload.read", "upload.create", "task.read", "task.edit", "test_helpers"]
SECRET = "whsec_live_SECRET"


class Worker:
    """`python -m sendai_server.cli worker`, its log in a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sendai_server.cli", "worker"], cwd=REPO_ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: "worker started" in log_path.read_text()
                   or self.process.poll() is not None, "the worker to start")
        assert self.process.poll() is None, log_path.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(DEADLINE)


class Setting:
    def __init__(self, database_url: str, tmp_path: Path, engine: Engine,
                 **variables: str) -> None:
        self.tmp_path = tmp_path
        self.env = {**os.environ, "DATABASE_URL": database_url, "SENDAI_ENV": "test",
                    "SENDAI_STORAGE_URL": str(tmp_path / "files"),
                    "SENDAI_PIPELINE_DELAY": "0.05", "SENDAI_WORKER_POLL_SECONDS": "0.05",
                    "SENDAI_LOG_LEVEL": "INFO",
                    "PYTHONPATH": os.pathsep.join([str(REPO_ROOT),
                                                   os.environ.get("PYTHONPATH", "")]),
                    **variables}
        self.env.pop("SENDAI_TEST_JOB_BARRIER", None)
        self.env.pop("SENDAI_TEST_JOB_HANDLERS", None)
        self.server = LiveServer(database_url, workers=2, env=self.env,
                                 log_path=tmp_path / "gunicorn.log")
        self.workers: list[Worker] = []
        with UnitOfWork(engine) as uow:
            self.team_id = create_team(uow, "Live")
            self.project_id, _ = create_project(uow, self.team_id, "Live",
                                                ProjectSettings(pipeline="auto"))
            self.key = create_key(uow, self.team_id, SCOPES, [self.project_id]).key

    def worker(self) -> Worker:
        started = Worker(self.env, self.tmp_path / "worker.log")
        self.workers.append(started)
        return started

    def url(self, rest: str) -> str:
        return f"{self.server.url}/v2/{self.team_id}/project/{self.project_id}{rest}"

    def get(self, rest: str, **kwargs: Any) -> Any:
        response = requests.get(self.url(rest), headers=auth(self.key), timeout=DEADLINE,
                                **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, rest: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url(rest), headers=auth(self.key), timeout=DEADLINE, **kwargs)

    def upload(self, data: bytes, name: str) -> dict[str, Any]:
        response = self.post("/upload", files={"file": (name, data)})
        assert response.status_code == 200, response.text
        return response.json()

    def connect(self, url: str, **fields: Any) -> dict[str, Any]:
        response = self.post("/test_helpers/connectors", json={"url": url, **fields})
        assert response.status_code == 201, response.text
        return response.json()["payload"]

    def logs(self) -> str:
        return "".join(p.read_text() for p in self.tmp_path.glob("*.log"))

    def stop(self) -> None:
        for worker in self.workers:
            worker.kill()
        self.server.stop()


@pytest.fixture
def setting_factory(database_url: str, tmp_path: Path, engine: Engine,
                    receivers: list[Receiver]) -> Iterator[Any]:
    made: list[Setting] = []

    def make(**variables: str) -> Setting:
        made.append(Setting(database_url, tmp_path, engine, **variables))
        return made[-1]

    yield make
    for setting in made:
        setting.stop()


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
    assert export.json["task"] == {**task, "exported_at": None}
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
