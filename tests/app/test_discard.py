"""POST .../task/{task_id}/discard, over the Flask test client on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.support.helpers import auth, count_rows, task_path


def events_of(engine: Engine, task_id: str) -> int:
    return count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t", t=task_id)


def status_of(engine: Engine, task_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM task WHERE id = :t"), {"t": task_id})
                   .scalar_one())


def test_discard_of_reviewing_task_returns_it_discarded(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 200
    assert response.content_type == "application/json"
    task = response.get_json()["payload"]
    assert task["id"] == task_id
    assert task["status"] == "DISCARDED"
    assert task["last_opened_at"] is not None and task["last_opened_at"].endswith("Z")
    assert status_of(engine, task_id) == "DISCARDED"


def test_discard_appends_exactly_one_event_with_key_and_request_id(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    before = events_of(engine, task_id)
    response = client.post(
        task_path(seed, task_id, "discard"),
        headers={**auth(seed["keys"]["edit"]), "X-Request-Id": "client-req-1"},
    )
    assert response.headers["X-Request-Id"] == "client-req-1"
    assert events_of(engine, task_id) == before + 1
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT action, from_status, to_status, key_id, request_id FROM task_event "
            "ORDER BY seq DESC LIMIT 1"
        ).one()
    assert row.action == "discard"
    assert (row.from_status, row.to_status) == ("REVIEWING", "DISCARDED")
    assert row.key_id.startswith("key_")
    assert row.request_id == "client-req-1"


@pytest.mark.parametrize(
    "status", ["PROCESSING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"]
)
def test_discard_outside_reviewing_is_rejected_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, status: str
) -> None:
    task_id = seed["tasks"][status][0]
    before = events_of(engine, task_id)
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_task_state"
    assert error["details"] == {"status": status, "allowed": ["REVIEWING"]}
    assert status in error["message"]
    assert status_of(engine, task_id) == status
    assert events_of(engine, task_id) == before


def test_second_discard_is_rejected(client: FlaskClient, seed: dict[str, Any]) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0], "discard")
    assert client.post(path, headers=auth(seed["keys"]["edit"])).status_code == 200
    second = client.post(path, headers=auth(seed["keys"]["edit"]))
    assert second.status_code == 400
    assert second.get_json()["error"]["details"]["status"] == "DISCARDED"


@pytest.mark.parametrize(
    "body, content_type",
    [
        (None, None),
        (b"{}", "application/json"),
        (b'{"status": "COMPLETED", "approved": true}', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"not json at all {", "application/json"),
        (b"a=b", "application/x-www-form-urlencoded"),
    ],
)
def test_discard_ignores_any_body(
    client: FlaskClient, seed: dict[str, Any], body: bytes | None, content_type: str | None
) -> None:
    headers = auth(seed["keys"]["edit"])
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(
        task_path(seed, seed["tasks"]["REVIEWING"][1], "discard"), data=body, headers=headers
    )
    assert response.status_code == 200
    assert response.get_json()["payload"]["status"] == "DISCARDED"
    assert response.get_json()["payload"]["approved"] is False


def test_discard_with_read_only_key_is_403_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["read"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "insufficient_scope"
    assert response.get_json()["error"]["details"] == {"required": "task.edit"}
    assert status_of(engine, task_id) == "REVIEWING"


def test_discard_of_other_teams_task_looks_exactly_like_a_missing_one(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    other = seed["other"]["task_id"]
    foreign = client.post(task_path(seed, other, "discard"), headers=auth(seed["keys"]["edit"]))
    missing = client.post(
        task_path(seed, "task_doesnotexist0000", "discard"), headers=auth(seed["keys"]["edit"])
    )
    assert foreign.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.get_json()["error"].items() if k != "message"}  # noqa: E731
    assert strip(foreign) == strip(missing) == {"status": 404, "code": "not_found"}
    assert status_of(engine, other) == "REVIEWING"


def test_other_teams_key_on_this_teams_path_is_404(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["other"]["key"]))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_other_team_path_with_own_task_id_is_404(client: FlaskClient, seed: dict[str, Any]) -> None:
    other = seed["other"]
    path = f"/v2/{other['team_id']}/project/{other['project_id']}/task/{other['task_id']}/discard"
    response = client.post(path, headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "task_id",
    ["x" * 10_000, "task_" + "a" * 300, "task_%00abc", "..", "task_abc;DROP TABLE task"],
)
def test_malformed_or_overlong_task_ids_are_not_found(
    client: FlaskClient, seed: dict[str, Any], task_id: str
) -> None:
    response = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer sk_unknownkeyunknownkeyunknownkeyunknownkey",
        "Bearer " + "a" * 5000,
        "Token sk_abc",
    ],
)
def test_missing_malformed_or_unknown_authorization_is_401(
    client: FlaskClient, seed: dict[str, Any], header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    path = task_path(seed, seed["tasks"]["REVIEWING"][0], "discard")
    response = client.post(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_revoked_key_is_401(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.post(
        task_path(seed, seed["tasks"]["REVIEWING"][0], "discard"),
        headers=auth(seed["keys"]["revoked"]),
    )
    assert response.status_code == 401


def test_wrong_method_is_405_with_allow(client: FlaskClient, seed: dict[str, Any]) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0], "discard")
    response = client.put(path, headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert response.get_json()["error"]["code"] == "method_not_allowed"


def test_unknown_path_is_json_404(client: FlaskClient) -> None:
    response = client.get("/v2/nothing/here")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == {"status": 404, "code": "not_found",
                             "message": body["error"]["message"]}
    assert body["request_id"] == response.headers["X-Request-Id"]


def test_auth_is_checked_before_visibility(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.post("/v2/team_x/project/proj_x/task/task_x/discard")
    assert response.status_code == 401


def test_body_over_the_limit_is_413_before_anything_else(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    response = client.post(task_path(seed, task_id, "discard"), data=b"x" * (limit + 1),
                           headers={"Content-Type": "application/json"})  # no key either
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert status_of(engine, task_id) == "REVIEWING"
