"""`PUT …/upload/{upload_id}/move` (docs/api/uploads.md) on SQLite and PostgreSQL: another project
of the same team takes the upload and its tasks, in one transaction; what the key cannot see is
404."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.store.uow import UnitOfWork
from tests.support import documents
from tests.support.helpers import auth
from tests.support.hostile import HOSTILE_BODIES
from tests.support.pipeline import SCOPES, Project, drain


class TwoProjects:
    """Projects `a` (with an upload of two documents) and `b` of one team, and a key on both."""

    def __init__(self, client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any]) -> None:
        self.client = client
        self.a = Project(client, uow, seed)
        self.team_id = self.a.team_id
        self.b_id, self.b_folders = create_project(uow, self.team_id, "B", ProjectSettings())
        self.key = create_key(uow, self.team_id, [*SCOPES, "upload.edit"],
                              [self.a.project_id, self.b_id]).key
        self.upload = self.a.upload((documents.invoice_pdf(), "a.pdf"),
                                    (documents.png((32, 32)), "b.png"))

    def path(self, project_id: str, rest: str) -> str:
        return f"/v2/{self.team_id}/project/{project_id}{rest}"

    def move(self, body: Any, key: str | None = None, upload_id: str | None = None) -> Any:
        path = self.path(self.a.project_id, f"/upload/{upload_id or self.upload['id']}/move")
        return self.client.put(path, json=body, headers=auth(key or self.key))

    def get(self, project_id: str, rest: str) -> Any:
        return self.client.get(self.path(project_id, rest), headers=auth(self.key))

    def where(self) -> tuple[int, int, int, int]:
        """Status codes of the upload and its first task, in a, then in b."""
        task_id = self.upload["taskIds"][0]
        return (self.get(self.a.project_id, f"/upload/{self.upload['id']}").status_code,
                self.get(self.a.project_id, f"/task/{task_id}").status_code,
                self.get(self.b_id, f"/upload/{self.upload['id']}").status_code,
                self.get(self.b_id, f"/task/{task_id}").status_code)


@pytest.fixture
def two(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any]) -> TwoProjects:
    return TwoProjects(client, uow, seed)


def test_an_upload_moves_to_another_project_with_its_tasks_events_and_files(
    two: TwoProjects, engine: Engine, config: Config,
) -> None:
    drain(engine, config)
    first, second = two.upload["taskIds"]
    events_before = two.get(two.a.project_id, f"/task/{first}/events").get_json()["payload"]
    moved = two.move({"project_id": two.b_id})
    assert moved.status_code == 200, moved.get_json()
    upload = moved.get_json()["payload"]
    assert upload["id"] == two.upload["id"]
    assert upload["folder_id"] == two.b_folders["Inbox"]
    assert set(upload["files"]) == {first, second}
    assert two.where() == (404, 404, 200, 200)
    task = two.get(two.b_id, f"/task/{first}").get_json()["payload"]
    assert (task["upload_id"], task["status"]) == (two.upload["id"], "REVIEWING")
    assert two.get(two.b_id, f"/task/{first}/events").get_json()["payload"] == events_before
    file = two.get(two.b_id, f"/upload/{two.upload['id']}/files/0")
    assert file.status_code == 200 and file.data == documents.invoice_pdf()
    listed = two.get(two.b_id, "/upload").get_json()["payload"]
    assert [u["id"] for u in listed] == [two.upload["id"]]
    assert two.get(two.a.project_id, "/upload").get_json()["payload"] == []


def test_a_folder_of_the_new_project_may_be_given(two: TwoProjects) -> None:
    moved = two.move({"project_id": two.b_id, "folder_id": two.b_folders["Reported"]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["payload"]["folder_id"] == two.b_folders["Reported"]


def test_a_folder_alone_moves_within_the_project(two: TwoProjects) -> None:
    moved = two.move({"folder_id": two.a.folders["Bin"]})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["payload"]["folder_id"] == two.a.folders["Bin"]
    assert two.where() == (200, 200, 404, 404)


def test_what_the_key_cannot_see_is_not_found_and_nothing_moves(
    two: TwoProjects, uow: UnitOfWork, seed: dict[str, Any],
) -> None:
    only_a = create_key(uow, two.team_id, [*SCOPES, "upload.edit"], [two.a.project_id]).key
    cases = [
        (two.move({"project_id": two.b_id}, key=only_a), 404),  # b is out of its sight
        (two.move({"project_id": seed["other"]["project_id"]}), 404),  # another team's
        (two.move({"project_id": "proj_doesnotexist1"}), 404),
        (two.move({"project_id": two.b_id, "folder_id": two.a.folders["Bin"]}), 404),
        (two.move({"project_id": two.b_id}, upload_id="upl_doesnotexist1"), 404),
        (two.move({}, upload_id="upl_doesnotexist1"), 404),  # the upload before the body
        (two.move({}), 400),
        (two.move({"project_id": 7}), 400),
        (two.move({"project_id": two.b_id}, key=seed["keys"]["read"]), 404),
    ]
    assert [(r.status_code, r.get_json()["error"]["code"]) for r, _ in cases] == [
        (want, {404: "not_found", 400: "validation_error"}[want]) for _, want in cases]
    assert two.where() == (200, 200, 404, 404)


def test_moving_needs_upload_edit(two: TwoProjects, uow: UnitOfWork) -> None:
    reader = create_key(uow, two.team_id, SCOPES, [two.a.project_id, two.b_id]).key
    refused = two.move({"project_id": two.b_id}, key=reader)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["details"]["required"] == "upload.edit"
    assert two.where() == (200, 200, 404, 404)


def test_the_move_is_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    operation = document["paths"][
        "/v2/{team_id}/project/{project_id}/upload/{upload_id}/move"]["put"]
    assert operation["operationId"] == "changeUploadProject"
    assert "requestBody" in operation


def test_a_task_whose_upload_moves_while_its_file_is_read_goes_on_in_its_new_project(
    two: TwoProjects, engine: Engine, config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The extract job read the task's project before the move; it fires in the project the
    task is in by the time it writes (once it failed there with not_found)."""
    from sendai_server.pipeline import steps

    real_plan = steps._plan
    moves = []

    def plan_then_move(*args: Any, **kwargs: Any) -> Any:
        planned = real_plan(*args, **kwargs)
        if not moves:
            moves.append(two.move({"project_id": two.b_id}).status_code)
        return planned

    monkeypatch.setattr(steps, "_plan", plan_then_move)
    drain(engine, config)
    assert moves == [200]
    for task_id in two.upload["taskIds"]:
        task = two.get(two.b_id, f"/task/{task_id}").get_json()["payload"]
        assert task["status"] == "REVIEWING"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM job").scalar_one() == 0


def test_a_task_whose_upload_moved_before_its_export_was_delivered_is_exported(
    two: TwoProjects, engine: Engine, config: Config, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sendai_server.pipeline import deliveries
    from sendai_server.testing.receiver import Receiver
    from tests.support.notifications import connect

    receiver = Receiver()
    try:
        connect(two.a, receiver.url, events=["task.export"])
        task_id = two.upload["taskIds"][0]
        advanced = two.a.post(f"/test_helpers/task/{task_id}/advance",
                              json={"event": "auto_complete"})
        assert advanced.status_code == 200, advanced.get_json()
        real_send = deliveries.send

        def move_then_send(*args: Any, **kwargs: Any) -> Any:
            assert two.move({"project_id": two.b_id}).status_code == 200
            return real_send(*args, **kwargs)

        monkeypatch.setattr(deliveries, "send", move_then_send)
        drain(engine, config)
        receiver.wait_count(1)
    finally:
        receiver.close()
    task = two.get(two.b_id, f"/task/{task_id}").get_json()["payload"]
    assert (task["status"], task["exported_at"] is not None) == ("COMPLETED", True)


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_a_hostile_body_is_400_and_moves_nothing(two: TwoProjects, name: str) -> None:
    body, content_type = HOSTILE_BODIES[name]
    path = two.path(two.a.project_id, f"/upload/{two.upload['id']}/move")
    response = two.client.put(path, data=body, content_type=content_type,
                              headers=auth(two.key))
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"]["code"] == "validation_error"
    assert two.where() == (200, 200, 404, 404)
