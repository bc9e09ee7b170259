"""POST .../task/{id}/{complete,unlock,approve,disapprove,report,discard} (docs/api/tasks.md) over
the Flask test client, on SQLite and PostgreSQL: every action from every status, with and without
the approved / exported flags that guard some of them."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.store.uow import UnitOfWork
from tests.support import lifecycle_rules as rules
from tests.support.factories import event_rows, make_task, task_row
from tests.support.helpers import auth, task_path

REPORT = {"issues": [{"label": "Total", "value": "Should be $1,234.56"}], "message": "Typo."}


def expected(action: str, status: str, approved: bool, exported: bool) -> dict[str, Any] | None:
    """The rules' (tests/support/lifecycle_rules.py) status and approved after the action, or
    None."""
    outcome = rules.after(status, approved, exported, action)
    return None if outcome is None else {"status": outcome[0], "approved": outcome[1]}


def post(client: FlaskClient, seed: dict[str, Any], task_id: str, action: str,
         key: str = "edit", **kwargs: Any) -> Any:
    headers = {**auth(seed["keys"][key]), "X-Request-Id": f"req-{action}"}
    if action == "report" and "json" not in kwargs and "data" not in kwargs:
        kwargs["json"] = REPORT
    return client.post(task_path(seed, task_id, action), headers=headers, **kwargs)


@pytest.mark.parametrize("status", rules.STATUSES)
@pytest.mark.parametrize("action", rules.PERSON_ACTIONS)
def test_action_from_every_state_matches_api_md(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine,
    action: str, status: str,
) -> None:
    for approved in (False, True):
        for exported in (False, True):
            case = f"{action} on {status} approved={approved} exported={exported}"
            task_id = make_task(uow, seed["project_id"], status,
                                approved=approved, exported=exported)
            before, events_before = task_row(engine, task_id), event_rows(engine, task_id)
            response = post(client, seed, task_id, action)
            outcome = expected(action, status, approved, exported)
            after = task_row(engine, task_id)
            if outcome is None:
                assert response.status_code == 400, case
                error = response.get_json()["error"]
                assert error["code"] == "invalid_task_state", case
                assert error["details"]["status"] == status
                assert error["details"]["allowed"] == rules.ALLOWED_FROM[action]
                assert task_id in error["message"]
                assert after == before, case
                assert event_rows(engine, task_id) == events_before, case
                continue
            assert response.status_code == 200, case
            payload = response.get_json()["payload"]
            assert payload["id"] == task_id
            assert (payload["status"], payload["approved"]) == (
                outcome["status"], outcome["approved"]), case
            assert (after["status"], after["approved"]) == (
                outcome["status"], outcome["approved"]), case
            assert (after["last_opened_at"] is not None) == (action in rules.OPENS_TASK), case
            assert (payload["last_opened_at"] is not None) == (action in rules.OPENS_TASK), case
            assert after["exported_at"] == before["exported_at"]
            events = event_rows(engine, task_id)
            assert len(events) == len(events_before) + 1, case
            event = events[-1]
            assert (event["action"], event["from_status"], event["to_status"]) == (
                action, status, outcome["status"])
            assert event["approved"] is outcome["approved"]
            assert event["key_id"].startswith("key_")
            assert event["request_id"] == f"req-{action}"


@pytest.mark.parametrize(
    "status, approved, exported, field, value",
    [
        ("COMPLETED", False, True, "exported_at", "2024-01-15T10:30:00Z"),
        ("FILTERED", False, True, "exported_at", "2024-01-15T10:30:00Z"),
    ],
)
def test_unlock_of_exported_task_is_rejected_naming_exported_at(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine,
    status: str, approved: bool, exported: bool, field: str, value: Any,
) -> None:
    task_id = make_task(uow, seed["project_id"], status, approved=approved, exported=exported)
    response = post(client, seed, task_id, "unlock")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["details"][field] == value
    assert "exported" in error["message"]
    assert task_row(engine, task_id)["status"] == status


@pytest.mark.parametrize("action, approved", [("approve", True), ("disapprove", False)])
def test_approve_twice_and_disapprove_unapproved_are_rejected_naming_approved(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, action: str, approved: bool
) -> None:
    task_id = make_task(uow, seed["project_id"], "COMPLETED", approved=approved)
    response = post(client, seed, task_id, action)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {
        "status": "COMPLETED", "allowed": rules.NOT_PROCESSING, "approved": approved}


def test_complete_answers_task_processing_started_beside_the_payload(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = post(client, seed, seed["tasks"]["REVIEWING"][0], "complete")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["payload", "message"]
    assert body["message"] == "Task processing started"
    assert body["payload"]["status"] == "PROCESSING"


@pytest.mark.parametrize("action", ["approve", "disapprove"])
def test_approve_and_disapprove_leave_last_opened_at_and_status_alone(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine, action: str
) -> None:
    task_id = make_task(uow, seed["project_id"], "FAILED", approved=action == "disapprove")
    response = post(client, seed, task_id, action)
    assert response.status_code == 200
    row = task_row(engine, task_id)
    assert row["status"] == "FAILED" and row["last_opened_at"] is None


def test_returned_task_is_the_whole_public_object(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    before = client.get(task_path(seed, task_id), headers=auth(seed["keys"]["read"])).get_json()
    after = post(client, seed, task_id, "approve").get_json()["payload"]
    assert after["pages"] == before["payload"]["pages"]
    assert after["meta"] == [{"name": "category", "value": "invoice"}]
    assert after["pages"][0]["annotations"][0]["content"] == "$1,234.56"


@pytest.mark.parametrize("action", ["complete", "unlock", "approve", "disapprove"])
@pytest.mark.parametrize("body, content_type", [
    (b'{"status": "DISCARDED", "approved": true}', "application/json"),
    (b"not json {", "application/json"),
    (b"[1]", "application/json"),
    (b"a=b", "application/x-www-form-urlencoded"),
])
def test_actions_other_than_report_ignore_any_body(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork,
    action: str, body: bytes, content_type: str,
) -> None:
    status = {"complete": "REVIEWING", "unlock": "COMPLETED"}.get(action, "REVIEWING")
    task_id = make_task(uow, seed["project_id"], status, approved=action == "disapprove")
    response = client.post(
        task_path(seed, task_id, action), data=body,
        headers={**auth(seed["keys"]["edit"]), "Content-Type": content_type},
    )
    assert response.status_code == 200


@pytest.mark.parametrize("action", rules.PERSON_ACTIONS)
def test_actions_with_read_only_key_are_403_and_change_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, action: str
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    before = task_row(engine, task_id)
    response = post(client, seed, task_id, action, key="read")
    assert response.status_code == 403
    assert response.get_json()["error"]["details"] == {"required": "task.edit"}
    assert task_row(engine, task_id) == before


@pytest.mark.parametrize("action", rules.PERSON_ACTIONS)
def test_actions_on_other_teams_task_are_404_like_a_missing_task(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, action: str
) -> None:
    other = seed["other"]["task_id"]
    foreign = post(client, seed, other, action)
    missing = post(client, seed, "task_doesnotexist0000", action)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json()["error"]["code"] == missing.get_json()["error"]["code"]
    assert task_row(engine, other)["status"] == "REVIEWING"


# --- report's body ------------------------------------------------------------------------------

BAD_REPORTS: list[tuple[str, Any, str]] = [
    ("not json", b"{not json", "json"),
    ("a list", [{"label": "a", "value": "b"}], "json"),
    ("a string", "issues", "json"),
    ("a number", 3, "json"),
    ("null", b"null", "json"),
    ("empty object", {}, "issues"),
    ("issues missing", {"message": "only a message"}, "issues"),
    ("issues empty", {"issues": []}, "issues"),
    ("issues not a list", {"issues": {"label": "a", "value": "b"}}, "issues"),
    ("issue not an object", {"issues": ["label: value"]}, "issues"),
    ("issue without label", {"issues": [{"value": "b"}]}, "issues"),
    ("issue without value", {"issues": [{"label": "a"}]}, "issues"),
    ("empty label", {"issues": [{"label": "", "value": "b"}]}, "issues"),
    ("empty value", {"issues": [{"label": "a", "value": ""}]}, "issues"),
    ("label of 201", {"issues": [{"label": "x" * 201, "value": "b"}]}, "issues"),
    ("value of 201", {"issues": [{"label": "a", "value": "x" * 201}]}, "issues"),
    ("label a number", {"issues": [{"label": 5, "value": "b"}]}, "issues"),
    ("value null", {"issues": [{"label": "a", "value": None}]}, "issues"),
    ("extra issue field", {"issues": [{"label": "a", "value": "b", "x": 1}]}, "issues"),
    ("message of 10,001", {"issues": [{"label": "a", "value": "b"}], "message": "m" * 10_001},
     "message"),
    ("message a list", {"issues": [{"label": "a", "value": "b"}], "message": ["m"]}, "message"),
    ("NUL in value", {"issues": [{"label": "a", "value": "b\x00"}]}, "issues"),
    ("unknown field", {"issues": [{"label": "a", "value": "b"}], "status": "DISCARDED"},
     "status"),
]


@pytest.mark.parametrize("name, body, field", BAD_REPORTS, ids=[c[0] for c in BAD_REPORTS])
def test_bad_report_body_is_400_validation_error_naming_the_field_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, name: str, body: Any, field: str
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    before, events_before = task_row(engine, task_id), event_rows(engine, task_id)
    if isinstance(body, bytes):
        response = post(client, seed, task_id, "report", data=body,
                        content_type="application/json")
    else:
        response = post(client, seed, task_id, "report", json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]
    assert task_row(engine, task_id) == before
    assert event_rows(engine, task_id) == events_before


def test_report_without_a_json_content_type_is_a_validation_error(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = post(client, seed, seed["tasks"]["REVIEWING"][0], "report",
                    data='{"issues": [{"label": "a", "value": "b"}]}', content_type="text/plain")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"
    assert "Content-Type" in response.get_json()["error"]["details"]["fields"]["json"][0]


def test_report_without_a_body_is_a_validation_error_naming_issues(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = client.post(task_path(seed, seed["tasks"]["REVIEWING"][0], "report"),
                           headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 400
    assert "issues" in response.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize("label, value, message", [
    ("x", "y", None), ("x" * 200, "y" * 200, "m" * 10_000), ("Ünïcødé ✓", "値", ""),
])
def test_report_at_the_limits_is_accepted(
    client: FlaskClient, seed: dict[str, Any], label: str, value: str, message: str | None
) -> None:
    body: dict[str, Any] = {"issues": [{"label": label, "value": value}] * 3}
    if message is not None:
        body["message"] = message
    response = post(client, seed, seed["tasks"]["COMPLETED"][0], "report", json=body)
    assert response.status_code == 200
    assert response.get_json()["payload"]["status"] == "COMPLETED"


def test_report_is_stored_in_its_event_and_visible_in_events(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["FAILED"][0]
    assert post(client, seed, task_id, "report").status_code == 200
    events = client.get(task_path(seed, task_id, "events"),
                        headers=auth(seed["keys"]["read"])).get_json()["payload"]
    report = events[-1]
    assert report["action"] == "report"
    assert report["issues"] == REPORT["issues"]
    assert report["message"] == "Typo."
    assert "issues" not in events[0] and "message" not in events[0]


def test_report_without_message_has_null_message(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["FILTERED"][0]
    post(client, seed, task_id, "report", json={"issues": [{"label": "a", "value": "b"}]})
    events = client.get(task_path(seed, task_id, "events"),
                        headers=auth(seed["keys"]["read"])).get_json()["payload"]
    assert events[-1]["message"] is None


# --- docs/api/index.md's order, with a bad report body ------------------------------------------

BAD_BODY = {"issues": []}


def test_no_key_and_bad_body_is_401(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.post(task_path(seed, seed["tasks"]["REVIEWING"][0], "report"),
                           json=BAD_BODY)
    assert response.status_code == 401


def test_other_teams_project_and_bad_body_is_404(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = post(client, seed, seed["tasks"]["REVIEWING"][0], "report", json=BAD_BODY)
    other = client.post(task_path(seed, seed["tasks"]["REVIEWING"][0], "report"), json=BAD_BODY,
                        headers=auth(seed["other"]["key"]))
    assert response.status_code == 400 and other.status_code == 404


def test_read_only_key_and_bad_body_is_403(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = post(client, seed, seed["tasks"]["REVIEWING"][0], "report", key="read",
                    json=BAD_BODY)
    assert response.status_code == 403


@pytest.mark.parametrize("task_id", ["task_doesnotexist0000", "x" * 300, "other"])
def test_unknown_task_and_bad_body_is_404_not_400(
    client: FlaskClient, seed: dict[str, Any], task_id: str
) -> None:
    task_id = seed["other"]["task_id"] if task_id == "other" else task_id
    response = post(client, seed, task_id, "report", data=b"{garbage",
                    content_type="application/json")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_processing_task_and_bad_body_is_validation_error_before_state(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["PROCESSING"][0]
    bad = post(client, seed, task_id, "report", json=BAD_BODY)
    good = post(client, seed, task_id, "report")
    assert bad.get_json()["error"]["code"] == "validation_error"
    assert good.get_json()["error"]["code"] == "invalid_task_state"


# --- events -------------------------------------------------------------------------------------

def test_events_are_the_audit_trail_oldest_first_with_every_field(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork
) -> None:
    task_id = make_task(uow, seed["project_id"], "REVIEWING")
    for action in ("approve", "report", "disapprove", "complete"):
        assert post(client, seed, task_id, action).status_code == 200
    assert post(client, seed, task_id, "discard").status_code == 400  # refused: no event
    response = client.get(task_path(seed, task_id, "events"), headers=auth(seed["keys"]["read"]))
    assert response.status_code == 200
    events = response.get_json()["payload"]
    assert [e["action"] for e in events] == ["create", "approve", "report", "disapprove",
                                             "complete"]
    assert [(e["from_status"], e["to_status"], e["approved"]) for e in events] == [
        (None, "REVIEWING", False), ("REVIEWING", "REVIEWING", True),
        ("REVIEWING", "REVIEWING", True), ("REVIEWING", "REVIEWING", False),
        ("REVIEWING", "PROCESSING", False),
    ]
    base = ["id", "task_id", "action", "from_status", "to_status", "approved", "key_id",
            "request_id", "created_at"]
    for event in events:
        assert list(event)[: len(base)] == base
        assert event["id"].startswith("evt_") and event["task_id"] == task_id
        assert event["created_at"].endswith("Z")
    assert events[1]["request_id"] == "req-approve"
    assert len({e["id"] for e in events}) == len(events)


def test_events_of_other_teams_task_are_404(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = client.get(task_path(seed, seed["other"]["task_id"], "events"),
                          headers=auth(seed["keys"]["read"]))
    assert response.status_code == 404


def test_events_need_task_read(client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork) -> None:
    from sendai_server.services.keys import create_key

    key = create_key(uow, seed["team_id"], ["task.edit"], [seed["project_id"]]).key
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0], "events"),
                          headers=auth(key))
    assert response.status_code == 403
    assert response.get_json()["error"]["details"] == {"required": "task.read"}
