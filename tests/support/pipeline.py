"""A project to run the simulated pipeline in-process (docs/pipeline.md): `Project` makes one with
a key and talks to its API; `drain` runs every due job with the worker's own claim and handlers;
`without_ids` compares a task's pages leaving out their ids."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.pipeline.worker import load_handlers
from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.store import jobs
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth

SCOPES = ["upload.read", "upload.create", "task.read", "task.edit", "test_helpers"]


def drain(engine: Engine, config: Config, limit: int = 100) -> int:
    """Run every due job, as a worker does; the number run."""
    handlers = load_handlers(config)
    done = 0
    with UnitOfWork(engine) as uow:
        while (job := jobs.claim(uow, "test", 60, kinds=handlers)) is not None:
            handlers[job.kind](uow, job)
            done += 1
            assert done <= limit
    return done


class Project:
    def __init__(self, client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any],
                 **settings: Any) -> None:
        self.client = client
        self.team_id = seed["team_id"]
        self.project_id, self.folders = create_project(
            uow, self.team_id, "Pipeline", ProjectSettings(**settings))
        self.key = create_key(uow, self.team_id, SCOPES, [self.project_id]).key

    def path(self, rest: str) -> str:
        return f"/v2/{self.team_id}/project/{self.project_id}{rest}"

    def upload(self, *files: tuple[bytes, str]) -> dict[str, Any]:
        response = self.client.post(
            self.path("/upload"), data={"file": [(io.BytesIO(b), n) for b, n in files]},
            content_type="multipart/form-data", headers=auth(self.key))
        assert response.status_code == 200, response.get_json()
        return response.get_json()  # type: ignore[no-any-return]

    def task(self, task_id: str) -> dict[str, Any]:
        return self.client.get(self.path(f"/task/{task_id}"),  # type: ignore[no-any-return]
                               headers=auth(self.key)).get_json()["payload"]

    def events(self, task_id: str) -> list[dict[str, Any]]:
        return self.client.get(self.path(f"/task/{task_id}/events"),  # type: ignore[no-any-return]
                               headers=auth(self.key)).get_json()["payload"]

    def post(self, rest: str, **kwargs: Any) -> Any:
        return self.client.post(self.path(rest), headers=auth(self.key), **kwargs)


def without_ids(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def strip(item: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in item.items() if k != "id"}

    return [{**strip(page), **{kind: [strip(i) for i in page[kind]]
                               for kind in ("annotations", "checkboxes", "segments",
                                            "signatures")}} for page in pages]
