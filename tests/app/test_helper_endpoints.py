"""The test helpers (docs/api/test-helpers.md): create a task in any state, advance it with a
pipeline event through the machine; off unless enabled, and only with the `test_helpers` scope."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.demo import EXAMPLE_TASK
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support import lifecycle_rules as rules
from tests.support.factories import event_rows, make_task, task_row
from tests.support.helpers import auth, count_rows, task_path


def helpers_path(seed: dict[str, Any], task_id: str | None = None) -> str:
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/test_helpers/task"
    return f"{path}/{task_id}/advance" if task_id else path


def create(client: FlaskClient, seed: dict[str, Any], body: Any = None, key: str = "helpers",
           **kwargs: Any) -> Any:
    headers = {**auth(seed["keys"][key]), "X-Request-Id": "req-helper"}
    return client.post(helpers_path(seed), json={} if body is None else body, headers=headers,
                       **kwargs)


def advance(client: FlaskClient, seed: dict[str, Any], task_id: str, event: Any,
            key: str = "helpers") -> Any:
    return client.post(helpers_path(seed, task_id), json={"event": event},
                       headers={**auth(seed["keys"][key]), "X-Request-Id": "req-advance"})


def tasks_in(engine: Engine, seed: dict[str, Any]) -> int:
    return count_rows(engine, "SELECT count(*) FROM task WHERE project_id = :p",
                      p=seed["project_id"])


def without_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_ids(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list):
        return [without_ids(v) for v in value]
    return value


# --- create -------------------------------------------------------------------------------------

def test_create_with_an_empty_body_makes_a_reviewing_task_with_its_create_event(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    response = create(client, seed)
    assert response.status_code == 201
    task = response.get_json()["payload"]
    assert (task["status"], task["name"], task["pages"], task["meta"]) == (
        "REVIEWING", "Test task", [], [])
    assert task["id"].startswith("task_") and task["project_id"] == seed["project_id"]
    [event] = event_rows(engine, task["id"])
    assert (event["action"], event["from_status"], event["to_status"]) == (
        "create", None, "REVIEWING")
    assert event["key_id"].startswith("key_") and event["request_id"] == "req-helper"


@pytest.mark.parametrize("status", rules.STATUSES)
def test_create_in_any_status_with_pages_and_meta_returns_exactly_them(
    client: FlaskClient, seed: dict[str, Any], status: str
) -> None:
    body = {**copy.deepcopy(EXAMPLE_TASK), "status": status}
    response = create(client, seed, body)
    assert response.status_code == 201
    task = response.get_json()["payload"]
    assert task["status"] == status
    assert without_ids(task["pages"]) == EXAMPLE_TASK["pages"]
    assert task["meta"] == EXAMPLE_TASK["meta"] and task["name"] == EXAMPLE_TASK["name"]
    for prefix, items in (("page_", task["pages"]),
                          ("ann_", task["pages"][0]["annotations"]),
                          ("cb_", task["pages"][0]["checkboxes"]),
                          ("seg_", task["pages"][0]["segments"]),
                          ("sig_", task["pages"][0]["signatures"])):
        assert items[0]["id"].startswith(prefix)
    fetched = client.get(task_path(seed, task["id"]), headers=auth(seed["keys"]["read"]))
    assert fetched.get_json()["payload"] == task


PAGE = EXAMPLE_TASK["pages"][0]
BAD_CREATES: list[tuple[str, Any, str]] = [
    ("unknown status", {"status": "ARCHIVED"}, "status"),
    ("lowercase status", {"status": "reviewing"}, "status"),
    ("unknown field", {"approved": True}, "approved"),
    ("empty name", {"name": ""}, "name"),
    ("name of 501", {"name": "n" * 501}, "name"),
    ("name a number", {"name": 5}, "name"),
    ("pages not a list", {"pages": PAGE}, "pages"),
    ("page with an id", {"pages": [{**PAGE, "id": "page_x"}]}, "pages"),
    ("page without width", {"pages": [{"height": 3}]}, "pages"),
    ("width a float", {"pages": [{"width": 1.5, "height": 3}]}, "pages"),
    ("width a string", {"pages": [{"width": "100", "height": 3}]}, "pages"),
    ("width too large", {"pages": [{"width": 2**40, "height": 3}]}, "pages"),
    ("negative height", {"pages": [{"width": 1, "height": -3}]}, "pages"),
    ("confidence over 1", {"pages": [{**PAGE, "annotations": [
        {**PAGE["annotations"][0], "confidence": 1.5}]}]}, "pages"),
    ("annotation with an id", {"pages": [{**PAGE, "annotations": [
        {**PAGE["annotations"][0], "id": "ann_x"}]}]}, "pages"),
    ("coordinates of 3 points", {"pages": [{**PAGE, "segments": [
        {"confidence": 0.5, "coordinates": [[0, 0], [1, 1], [2, 2]]}]}]}, "pages"),
    ("coordinates of triples", {"pages": [{**PAGE, "segments": [
        {"confidence": 0.5, "coordinates": [[0, 0, 0]] * 4}]}]}, "pages"),
    ("checked a string", {"pages": [{**PAGE, "checkboxes": [
        {**PAGE["checkboxes"][0], "checked": "yes"}]}]}, "pages"),
    ("NUL in content", {"pages": [{**PAGE, "annotations": [
        {**PAGE["annotations"][0], "content": "a\x00b"}]}]}, "pages"),
    ("meta without value", {"meta": [{"name": "a"}]}, "meta"),
    ("meta value a number", {"meta": [{"name": "a", "value": 1}]}, "meta"),
    ("meta name of 201", {"meta": [{"name": "n" * 201, "value": "v"}]}, "meta"),
]


@pytest.mark.parametrize("name, body, field", BAD_CREATES, ids=[c[0] for c in BAD_CREATES])
def test_bad_create_body_is_400_naming_the_field_and_creates_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, name: str, body: Any, field: str
) -> None:
    before = tasks_in(engine, seed)
    response = create(client, seed, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]
    assert tasks_in(engine, seed) == before


@pytest.mark.parametrize("data", [b"{nope", b"[]", b'"REVIEWING"', b"null"])
def test_create_body_that_is_not_a_json_object_is_400(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, data: bytes
) -> None:
    before = tasks_in(engine, seed)
    response = client.post(helpers_path(seed), data=data, content_type="application/json",
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"]["json"]
    assert tasks_in(engine, seed) == before


NAN = b'{"pages": [{"width": 1, "height": 1, "annotations": [{"entity_id": "a", ' \
      b'"confidence": NaN, "content": "c", "top": 1, "left_of_line": Infinity}]}]}'


def test_create_refuses_nan_and_infinity(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.post(helpers_path(seed), data=NAN, content_type="application/json",
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 400


# --- advance ------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", rules.STATUSES)
@pytest.mark.parametrize("event", rules.PIPELINE_EVENTS)
def test_advance_from_every_status_matches_api_md(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine,
    event: str, status: str,
) -> None:
    task_id = make_task(uow, seed["project_id"], status)
    before, events_before = task_row(engine, task_id), event_rows(engine, task_id)
    response = advance(client, seed, task_id, event)
    outcome = rules.after(status, False, False, event)
    after = task_row(engine, task_id)
    if outcome is None:
        assert response.status_code == 400
        error = response.get_json()["error"]
        assert error["code"] == "invalid_task_state"
        assert error["details"] == {"status": status, "allowed": rules.ALLOWED_FROM[event]}
        assert after == before and event_rows(engine, task_id) == events_before
        return
    assert response.status_code == 200
    task = response.get_json()["payload"]
    dest = outcome[0]
    assert task["status"] == after["status"] == dest
    assert (task["exported_at"] is not None) == (event == "export")
    assert (task["export_failed_at"] is not None) == (event == "export_fail")
    assert task["last_opened_at"] is None  # the pipeline does not open tasks
    events = event_rows(engine, task_id)
    assert len(events) == len(events_before) + 1
    assert (events[-1]["action"], events[-1]["from_status"], events[-1]["to_status"]) == (
        event, status, dest)
    assert events[-1]["request_id"] == "req-advance"


def test_a_task_can_be_driven_through_the_whole_pipeline(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = create(client, seed, {"status": "PROCESSING"}).get_json()["payload"]["id"]
    for event in ("fail", "retry", "to_review"):
        assert advance(client, seed, task_id, event).status_code == 200
    complete = client.post(task_path(seed, task_id, "complete"),
                           headers=auth(seed["keys"]["helpers"]))
    assert complete.status_code == 200
    for event in ("auto_complete", "export"):
        assert advance(client, seed, task_id, event).status_code == 200
    unlock = client.post(task_path(seed, task_id, "unlock"), headers=auth(seed["keys"]["helpers"]))
    assert unlock.status_code == 400
    assert unlock.get_json()["error"]["details"]["exported_at"].endswith("Z")
    assert [e["action"] for e in event_rows(engine, task_id)] == [
        "create", "fail", "retry", "to_review", "complete", "auto_complete", "export"]


@pytest.mark.parametrize("event", ["archive", "discard", "approve", "complete", "", None, 3,
                                   ["fail"], "FAIL"])
def test_unknown_event_is_400_validation_error_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, event: Any
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    before = task_row(engine, task_id)
    response = advance(client, seed, task_id, event)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and "event" in error["details"]["fields"]
    assert task_row(engine, task_id) == before


def test_advance_without_event_is_400(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.post(helpers_path(seed, seed["tasks"]["PROCESSING"][0]), json={},
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 400
    assert "event" in response.get_json()["error"]["details"]["fields"]


def test_advance_of_unknown_task_with_bad_body_is_404(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    for task_id in ("task_doesnotexist0000", seed["other"]["task_id"]):
        response = advance(client, seed, task_id, "no such event")
        assert response.status_code == 404


# --- scope, visibility, off ---------------------------------------------------------------------

@pytest.mark.parametrize("key", ["edit", "read"])
def test_helpers_need_the_test_helpers_scope(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, key: str
) -> None:
    before = tasks_in(engine, seed)
    created = create(client, seed, {"status": "bogus"}, key=key)
    advanced = advance(client, seed, seed["tasks"]["PROCESSING"][0], "fail", key=key)
    for response in (created, advanced):
        assert response.status_code == 403
        assert response.get_json()["error"]["details"] == {"required": "test_helpers"}
    assert tasks_in(engine, seed) == before


def test_helpers_on_another_teams_project_are_404(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    other = seed["other"]
    path = f"/v2/{other['team_id']}/project/{other['project_id']}/test_helpers/task"
    response = client.post(path, json={}, headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 404


def test_helpers_without_a_key_are_401(client: FlaskClient, seed: dict[str, Any]) -> None:
    assert client.post(helpers_path(seed), json={}).status_code == 401


def test_helpers_are_404_when_turned_off(
    config: Config, seed: dict[str, Any], engine: Engine
) -> None:
    app = create_app(config.with_overrides(test_helpers=False))
    try:
        client = app.test_client()
        before = tasks_in(engine, seed)
        responses = [
            client.post(helpers_path(seed), json={}, headers=auth(seed["keys"]["helpers"])),
            client.get(helpers_path(seed), headers=auth(seed["keys"]["helpers"])),
            client.post(helpers_path(seed, seed["tasks"]["PROCESSING"][0]),
                        json={"event": "fail"}, headers=auth(seed["keys"]["helpers"])),
        ]
        for response in responses:
            assert response.status_code == 404
            assert response.get_json()["error"]["code"] == "not_found"
        assert tasks_in(engine, seed) == before
        assert "test_helpers" not in str(client.get("/openapi.json").get_json()["paths"])
    finally:
        engine_of(app).dispose()


def test_production_configuration_turns_helpers_off() -> None:
    env = {"SENDAI_ENV": "production", "DATABASE_URL": "sqlite:////tmp/x.db"}
    assert Config.from_env(env).test_helpers is False
    assert Config.from_env({**env, "SENDAI_TEST_HELPERS": "on"}).test_helpers is True
    assert Config.from_env({}).test_helpers is True
