"""The pipeline live: `Setting` is a gunicorn server and `sendai-server worker` processes on one
database, with a team, a project and a key; `setting_factory` (through tests/live/conftest.py)
makes them and stops them after the test."""

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
from tests.support.helpers import REPO_ROOT, LiveServer, auth
from tests.support.processes import wait_until

SCOPES = ["upload.read", "upload.create", "task.read", "task.edit", "test_helpers"]


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
