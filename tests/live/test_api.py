"""Every row of docs/api/tasks.md, docs/api/test-helpers.md over real HTTP, against gunicorn with 4
workers, on SQLite and on PostgreSQL. Each row gets fresh tasks made through the test helpers."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.support import lifecycle_rules as rules
from tests.support.helpers import LiveServer
from tests.support.live import Live, live  # noqa: F401 - the module-scoped fixture

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer

REPORT = {"issues": [{"label": "Total", "value": "wrong"}], "message": "Please check."}


def cases() -> list[tuple[str, str, bool, bool]]:
    rows = []
    for action in rules.PERSON_ACTIONS:
        for status in rules.STATUSES:
            rows.append((action, status, False, False))
            if status != "PROCESSING":
                rows.append((action, status, True, False))
            if status == "COMPLETED":
                rows.append((action, status, False, True))
    return rows


@pytest.mark.parametrize("action, status, approved, exported", cases())
def test_action_row_holds_over_http(
    live: Live, action: str, status: str, approved: bool, exported: bool  # noqa: F811
) -> None:
    task_id = live.create_task(status, approved=approved, exported=exported)
    events_before = live.get(f"/task/{task_id}/events").json()["payload"]
    kwargs: dict[str, Any] = {"json": REPORT} if action == "report" else {}
    response = live.action(task_id, action, **kwargs)
    assert response.headers["Content-Type"] == "application/json"
    outcome = rules.after(status, approved, exported, action)
    task = live.get(f"/task/{task_id}").json()["payload"]
    events = live.get(f"/task/{task_id}/events").json()["payload"]
    if outcome is None:
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_task_state"
        assert response.json()["error"]["details"]["status"] == status
        assert (task["status"], task["approved"]) == (status, approved)
        assert events == events_before
        return
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["payload"]["status"], body["payload"]["approved"]) == outcome
    assert (task["status"], task["approved"]) == outcome
    if action == "complete":
        assert body["message"] == "Task processing started"
    else:
        assert "message" not in body
    opens = action in rules.OPENS_TASK
    assert (task["last_opened_at"] is not None) == opens
    assert len(events) == len(events_before) + 1
    last = events[-1]
    assert (last["action"], last["from_status"], last["to_status"], last["approved"]) == (
        action, status, outcome[0], outcome[1])
    assert last["request_id"] == response.headers["X-Request-Id"]
    if action == "report":
        assert (last["issues"], last["message"]) == (REPORT["issues"], REPORT["message"])


@pytest.mark.parametrize("status", rules.STATUSES)
def test_get_task_row_any_state(live: Live, status: str) -> None:  # noqa: F811
    task_id = live.seed["tasks"][status][0]
    response = live.get(f"/task/{task_id}")
    assert response.status_code == 200 and response.json()["payload"]["id"] == task_id


def test_list_row_walks_every_task_with_filters(live: Live) -> None:  # noqa: F811
    seen: list[str] = []
    token = None
    while True:
        params: dict[str, Any] = {"limit": 3, "status": ["REVIEWING", "COMPLETED"]}
        if token:
            params["token"] = token
        body = live.get("/task", params=params).json()
        seen += [t["id"] for t in body["payload"]]
        assert {t["status"] for t in body["payload"]} <= {"REVIEWING", "COMPLETED"}
        token = body["paginationToken"]
        if not body["more"]:
            break
    assert len(seen) == len(set(seen)) == body["count"]
    garbled = live.get("/task", params={"limit": 3, "token": "garbled.token"})
    assert garbled.status_code == 400 and garbled.json()["error"]["code"] == "validation_error"
    bad = live.get("/task", params={"limit": 1000})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["details"]["fields"]


def test_report_bad_body_row_over_http(live: Live) -> None:  # noqa: F811
    task_id = live.create_task("REVIEWING")
    response = live.action(task_id, "report", data=b"{not json",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    missing = live.action("task_doesnotexist0000", "report", json={"issues": []})
    assert missing.status_code == 404


PIPELINE = {
    "to_review": ("PROCESSING", "REVIEWING"), "auto_complete": ("PROCESSING", "COMPLETED"),
    "fail": ("PROCESSING", "FAILED"), "filter": ("PROCESSING", "FILTERED"),
    "retry": ("FAILED", "PROCESSING"), "export": ("COMPLETED", "COMPLETED"),
    "export_fail": ("COMPLETED", "COMPLETED"),
}


@pytest.mark.parametrize("status", rules.STATUSES)
def test_helper_create_row_over_http(live: Live, status: str) -> None:  # noqa: F811
    response = live.http.post(
        f"{live.base}/test_helpers/task", headers=live.headers(),
        json={"status": status, "name": "Live", "meta": [{"name": "k", "value": "v"}],
              "pages": [{"width": 10, "height": 20, "annotations": [
                  {"entity_id": "e", "confidence": 0.5, "content": "c", "top": 1,
                   "left_of_line": 2}]}]},
    )
    assert response.status_code == 201
    task = response.json()["payload"]
    assert task["status"] == status and task["pages"][0]["annotations"][0]["content"] == "c"
    [event] = live.get(f"/task/{task['id']}/events").json()["payload"]
    assert (event["action"], event["from_status"], event["to_status"]) == (
        "create", None, status)


@pytest.mark.parametrize("status", rules.STATUSES)
@pytest.mark.parametrize("event", list(PIPELINE))
def test_helper_advance_row_over_http(live: Live, event: str, status: str) -> None:  # noqa: F811
    task_id = live.create_task(status)
    response = live.advance(task_id, event)
    source, dest = PIPELINE[event]
    if status != source:
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_task_state"
        assert live.get(f"/task/{task_id}").json()["payload"]["status"] == status
        return
    assert response.status_code == 200
    task = response.json()["payload"]
    assert task["status"] == dest
    assert (task["exported_at"] is not None) == (event == "export")
    assert (task["export_failed_at"] is not None) == (event == "export_fail")
    assert live.get(f"/task/{task_id}/events").json()["payload"][-1]["action"] == event


def test_helper_unknown_event_and_scope_rows_over_http(live: Live) -> None:  # noqa: F811
    task_id = live.create_task("PROCESSING")
    unknown = live.advance(task_id, "explode")
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "validation_error"
    no_scope = live.http.post(f"{live.base}/test_helpers/task", json={},
                              headers=live.headers("edit"))
    assert no_scope.status_code == 403
    assert no_scope.json()["error"]["details"] == {"required": "test_helpers"}


def test_helpers_are_404_on_a_server_with_them_turned_off(live: Live) -> None:  # noqa: F811
    server = LiveServer(live.database_url, workers=1, env={"SENDAI_TEST_HELPERS": "0"})
    try:
        base = live.base.replace(live.server.url, server.url)
        created = requests.post(f"{base}/test_helpers/task", json={}, headers=live.headers(),
                                timeout=30)
        task_id = live.seed["tasks"]["PROCESSING"][0]
        advanced = requests.post(f"{base}/test_helpers/task/{task_id}/advance",
                                 json={"event": "fail"}, headers=live.headers(), timeout=30)
        for response in (created, advanced):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
        assert live.get(f"/task/{task_id}").json()["payload"]["status"] == "PROCESSING"
    finally:
        server.stop()
