"""A live gunicorn server (4 workers) shared by one test module, per database backend, with
the demo seed, for tests that walk many rows over real HTTP without a server start each."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from sendai_server.services.demo import seed_demo
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork
from tests.support.databases import BACKENDS, truncate_postgres
from tests.support.helpers import LiveServer, auth


@dataclass
class Live:
    server: LiveServer
    seed: dict[str, Any]
    engine: Engine
    backend: str
    http: requests.Session
    database_url: str

    @property
    def base(self) -> str:
        return f"{self.server.url}/v2/{self.seed['team_id']}/project/{self.seed['project_id']}"

    def headers(self, key: str = "helpers") -> dict[str, str]:
        return auth(self.seed["keys"][key])

    def create_task(self, status: str, *, approved: bool = False, exported: bool = False) -> str:
        """A task in `status` made through the test helpers (and approve / export)."""
        response = self.http.post(f"{self.base}/test_helpers/task", json={"status": status},
                                  headers=self.headers())
        assert response.status_code == 201, response.text
        task_id: str = response.json()["payload"]["id"]
        if approved:
            assert self.action(task_id, "approve").status_code == 200
        if exported:
            assert self.advance(task_id, "export").status_code == 200
        return task_id

    def action(self, task_id: str, action: str, key: str = "helpers", **kwargs: Any) -> Any:
        headers = {**self.headers(key), **kwargs.pop("headers", {})}
        return self.http.post(f"{self.base}/task/{task_id}/{action}", headers=headers, **kwargs)

    def advance(self, task_id: str, event: Any) -> Any:
        return self.http.post(f"{self.base}/test_helpers/task/{task_id}/advance",
                              json={"event": event}, headers=self.headers())

    def get(self, path: str, key: str = "read", **kwargs: Any) -> Any:
        return self.http.get(f"{self.base}{path}", headers=self.headers(key), **kwargs)


@pytest.fixture(scope="module", params=BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("live") / "sendai.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        truncate_postgres(url)
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
    server = LiveServer(url, workers=4)
    http = requests.Session()
    try:
        yield Live(server, seed, engine, request.param, http, url)
    finally:
        http.close()
        server.stop()
        engine.dispose()
