"""`POST …/test_helpers/teams` (docs/api/test-helpers.md): a test's own team, project, keys and
connector in one call and one transaction; every refusal a JSON 400 (or 404) that writes
nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.support.helpers import auth, count_rows

TABLES = ("team", "project", "folder", "api_key", "api_key_project", "connector")


def teams_path(seed: dict[str, Any]) -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}/test_helpers/teams"


def make(client: FlaskClient, seed: dict[str, Any], body: Any, key: str = "helpers") -> Any:
    return client.post(teams_path(seed), json=body, headers=auth(seed["keys"][key]))


def rows(engine: Engine) -> dict[str, int]:
    return {t: count_rows(engine, f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608


FULL = {
    "name": "tests/test_x.py::test_y",
    "project": {"pipeline": "auto", "automation": "auto_process", "threshold": 0.5,
                "delay": 0.25},
    "keys": [["test_helpers", "task.read", "task.edit"], ["tasks.view"]],
    "connector": {"url": "http://127.0.0.1:9/hook", "name": "receiver",
                  "events": ["upload.in_review"], "secret": "s3cret"},
}


def test_it_makes_a_team_with_its_project_keys_and_connector_that_the_keys_reach(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    before = rows(engine)
    response = make(client, seed, FULL)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()["payload"]
    team, project = made["team_id"], made["project_id"]
    assert team != seed["team_id"] and team.startswith("team_") and project.startswith("proj_")
    assert [k["scopes"] for k in made["keys"]] == [["task.edit", "task.read", "test_helpers"],
                                                  ["task.read"]]
    assert made["connector"]["url"] == "http://127.0.0.1:9/hook"
    assert made["connector"]["secret"] == "***" and made["connector"]["events"] == [
        "upload.in_review"]
    assert rows(engine) == {**before, "team": before["team"] + 1,
                            "project": before["project"] + 1, "folder": before["folder"] + 4,
                            "api_key": before["api_key"] + 2,
                            "api_key_project": before["api_key_project"] + 2,
                            "connector": before["connector"] + 1}
    settings = client.get(f"/v2/{team}/project/{project}/test_helpers/connectors",
                          headers=auth(made["keys"][0]["key"]))
    assert settings.status_code == 200 and [c["id"] for c in settings.get_json()["payload"]] == [
        made["connector"]["id"]]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, pipeline, automation, threshold, delay "
                                   "FROM project WHERE id = :p"), {"p": project}).one()
    assert tuple(stored) == ("tests/test_x.py::test_y", "auto", "auto_process", 0.5, 0.25)
    # The new keys reach the new project, and nothing of the caller's team.
    read_key = made["keys"][1]["key"]
    other = client.get(f"/v2/{team}/project/{project}/task", headers=auth(read_key))
    assert other.status_code == 200 and other.get_json()["payload"] == []
    theirs = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task",
                        headers=auth(read_key))
    assert theirs.status_code in (401, 404)


def test_an_empty_body_makes_a_manual_project_with_no_keys_and_no_connector(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    response = make(client, seed, {})
    assert response.status_code == 201
    made = response.get_json()["payload"]
    assert made["keys"] == [] and made["connector"] is None
    with engine.connect() as conn:
        pipeline = conn.execute(text("SELECT pipeline FROM project WHERE id = :p"),
                                {"p": made["project_id"]}).scalar_one()
        name = conn.execute(text("SELECT name FROM team WHERE id = :t"),
                            {"t": made["team_id"]}).scalar_one()
    assert (pipeline, name) == ("manual", "Test team")


BAD = {
    "unknown scope": ({"keys": [["task.read", "tasks.fly"]]}, "keys"),
    "a key without scopes": ({"keys": [[]]}, "keys"),
    "too many keys": ({"keys": [["task.read"]] * 11}, "keys"),
    "keys not lists": ({"keys": "task.read"}, "keys"),
    "bad pipeline": ({"project": {"pipeline": "sometimes"}}, "project"),
    "threshold above 1": ({"project": {"threshold": 1.5}}, "project"),
    "negative delay": ({"project": {"delay": -1}}, "project"),
    "unknown setting": ({"project": {"colour": "red"}}, "project"),
    "empty name": ({"name": ""}, "name"),
    "name too long": ({"name": "n" * 201}, "name"),
    "blank name": ({"name": "   "}, None),
    "connector without url": ({"connector": {"name": "x"}}, "connector"),
    "connector not http": ({"connector": {"url": "ftp://example.com/x"}}, None),
    "connector bad event": ({"connector": {"url": "http://a.example/x", "events": ["x"]}},
                            "connector"),
    "unknown field": ({"colour": "red"}, "colour"),
    "not an object": ([1, 2], None),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_body_is_a_json_400_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, case: str
) -> None:
    body, field = BAD[case]
    good_then_bad = {**FULL, **body} if isinstance(body, dict) else body
    before = rows(engine)
    response = make(client, seed, good_then_bad)
    assert response.status_code == 400, (case, response.get_data(as_text=True)[:300])
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    if field is not None:
        assert field in error["details"]["fields"], error
    assert rows(engine) == before


def test_a_body_that_is_not_json_is_a_json_400(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    before = rows(engine)
    response = client.post(teams_path(seed), data=b"{not json", content_type="application/json",
                           headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 400 and response.get_json()["error"]["code"]
    assert rows(engine) == before


@pytest.mark.parametrize("key", ["edit", "read"])
def test_a_key_without_the_test_helpers_scope_is_refused(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, key: str
) -> None:
    before = rows(engine)
    response = make(client, seed, FULL, key=key)
    assert response.status_code == 403 and response.get_json()["error"]["code"]
    assert rows(engine) == before


def test_a_path_the_key_does_not_reach_is_404_and_makes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    before = rows(engine)
    other = seed["other"]
    response = client.post(
        f"/v2/{other['team_id']}/project/{other['project_id']}/test_helpers/teams", json=FULL,
        headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    assert rows(engine) == before


def test_it_is_documented_with_its_operation_id(client: FlaskClient) -> None:
    document = client.get("/openapi.json").get_json()
    operation = document["paths"][
        "/v2/{team_id}/project/{project_id}/test_helpers/teams"]["post"]
    assert operation["operationId"] == "createTestTeam"
    assert "201" in operation["responses"] and "400" in str(operation["responses"])
