"""Faults on demand (docs/failures.md) in process, on both databases: the rules' endpoints and their
validation, matching, the exact count, the seeded sequence, and each effect's answer. The
effects over real sockets (drop, delay, after, the race) are in test_faults_live.py."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services import faults
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support.db_trace import trace_database
from tests.support.helpers import auth, count_rows, task_path


def faults_path(seed: dict[str, Any], fault_id: str = "") -> str:
    path = f"/v2/{seed['team_id']}/test_helpers/faults"
    return f"{path}/{fault_id}" if fault_id else path


def add_fault(client: FlaskClient, seed: dict[str, Any], /, **rule: Any) -> dict[str, Any]:
    response = client.post(faults_path(seed), json=rule, headers=auth(seed["keys"]["helpers"]))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["payload"]  # type: ignore[no-any-return]


def discard(client: FlaskClient, seed: dict[str, Any], task_id: str) -> Any:
    return client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))


def status_of(engine: Engine, task_id: str) -> str:
    from sqlalchemy import text
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT status FROM task WHERE id = :t"),
                                {"t": task_id}).scalar_one())


# --- the endpoints ------------------------------------------------------------------------------

def test_a_fault_is_created_listed_and_deleted(client: FlaskClient, seed: dict[str, Any]
                                               ) -> None:
    created = add_fault(client, seed, match={"operation": "discardTask"},
                        effect={"status": 503, "retry_after": 2})
    assert created["id"].startswith("flt_")
    assert created["match"] == {"operation": "discardTask"}
    assert created["effect"] == {"status": 503, "retry_after": 2}
    assert (created["times"], created["remaining"], created["hits"]) == (1, 1, 0)
    assert (created["probability"], created["seed"]) == (1.0, None)
    assert created["created_at"].endswith("Z")
    headers = auth(seed["keys"]["helpers"])
    assert client.get(faults_path(seed), headers=headers).get_json()["payload"] == [created]
    deleted = client.delete(faults_path(seed, created["id"]), headers=headers)
    assert deleted.status_code == 200
    assert deleted.get_json()["payload"] == created
    assert client.get(faults_path(seed), headers=headers).get_json()["payload"] == []
    again = client.delete(faults_path(seed, created["id"]), headers=headers)
    assert (again.status_code, again.get_json()["error"]["code"]) == (404, "not_found")


def test_delete_without_an_id_removes_every_fault_of_the_team(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    for operation in ("discardTask", "getTask"):
        add_fault(client, seed, match={"operation": operation}, effect={"status": 500})
    response = client.delete(faults_path(seed), headers=auth(seed["keys"]["helpers"]))
    assert [f["match"]["operation"] for f in response.get_json()["payload"]] == [
        "discardTask", "getTask"]
    assert count_rows(engine, "SELECT count(*) FROM fault") == 0
    assert count_rows(engine, "SELECT fault_count FROM team WHERE id = :t",
                      t=seed["team_id"]) == 0


def test_faults_endpoints_need_the_test_helpers_scope_and_the_keys_team(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    body = {"match": {"operation": "getTask"}, "effect": {"status": 500}}
    refused = client.post(faults_path(seed), json=body, headers=auth(seed["keys"]["edit"]))
    assert (refused.status_code, refused.get_json()["error"]["details"]) == (
        403, {"required": "test_helpers"})
    other = client.get(f"/v2/{seed['other']['team_id']}/test_helpers/faults",
                       headers=auth(seed["keys"]["helpers"]))
    assert other.status_code == 404


def test_faults_endpoints_are_404_and_not_in_the_spec_when_test_helpers_are_off(
    tmp_path: Any, database_url: str, seed: dict[str, Any]
) -> None:
    app = create_app(Config(env="test", database_url=database_url, test_helpers=False,
                            storage_url=str(tmp_path / "f")))
    try:
        client = app.test_client()
        response = client.get(faults_path(seed), headers=auth(seed["keys"]["helpers"]))
        assert (response.status_code, response.get_json()["error"]["code"]) == (404,
                                                                                "not_found")
        assert not [p for p in client.get("/openapi.json").get_json()["paths"] if "fault" in p]
    finally:
        engine_of(app).dispose()


def test_the_spec_names_the_faults_operations(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").get_json()["paths"]
    base = "/v2/{team_id}/test_helpers/faults"
    assert {method: op["operationId"] for method, op in paths[base].items()
            if method != "parameters"} == {"post": "createTestFault", "get": "listTestFaults",
                                           "delete": "clearTestFaults"}
    assert paths[base + "/{fault_id}"]["delete"]["operationId"] == "deleteTestFault"


# --- bad rules ----------------------------------------------------------------------------------

GOOD = {"match": {"operation": "discardTask"}, "effect": {"status": 503}}
BAD_RULES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no_match_field": ({"match": {}, "effect": {"status": 503}}, ["match"]),
    "no_match": ({"effect": {"status": 503}}, ["match"]),
    "no_effect": ({"match": {"method": "GET"}}, ["effect"]),
    "empty_effect": ({"match": {"method": "GET"}, "effect": {}}, ["effect"]),
    "two_effects": ({**GOOD, "effect": {"status": 503, "drop": True}}, ["effect"]),
    "status_outside_the_list": ({**GOOD, "effect": {"status": 404}}, ["effect", "status"]),
    "status_as_text": ({**GOOD, "effect": {"status": "503"}}, ["effect", "status"]),
    "times_zero": ({**GOOD, "times": 0}, ["times"]),
    "times_over": ({**GOOD, "times": 10_001}, ["times"]),
    "times_fraction": ({**GOOD, "times": 1.5}, ["times"]),
    "probability_over_one": ({**GOOD, "probability": 1.5}, ["probability"]),
    "probability_negative": ({**GOOD, "probability": -0.1}, ["probability"]),
    "seed_negative": ({**GOOD, "seed": -1}, ["seed"]),
    "unknown_rule_field": ({**GOOD, "when": "always"}, ["when"]),
    "unknown_match_field": ({**GOOD, "match": {"host": "x"}}, ["match", "host"]),
    "unknown_effect_field": ({**GOOD, "effect": {"status": 503, "reset": True}},
                             ["effect", "reset"]),
    "bad_method": ({**GOOD, "match": {"method": "BREW"}}, ["match", "method"]),
    "path_without_slash": ({**GOOD, "match": {"path": "project/*"}}, ["match", "path"]),
    "body_unknown": ({**GOOD, "effect": {"status": 503, "body": "xml"}}, ["effect", "body"]),
    "retry_after_negative": ({**GOOD, "effect": {"status": 503, "retry_after": -1}},
                             ["effect", "retry_after"]),
    "retry_after_without_status": ({**GOOD, "effect": {"drop": True, "retry_after": 1}},
                                   ["effect"]),
    "delay_zero": ({**GOOD, "effect": {"delay_ms": 0}}, ["effect", "delay_ms"]),
    "delay_over_a_minute": ({**GOOD, "effect": {"delay_ms": 60_001}}, ["effect", "delay_ms"]),
    "drop_false": ({**GOOD, "effect": {"drop": False}}, ["effect", "drop"]),
    "duplicate_on_a_request": ({**GOOD, "effect": {"duplicate": 2}}, ["effect"]),
    "duplicate_four": ({"match": {"event": "upload.in_review"}, "effect": {"duplicate": 4}},
                       ["effect", "duplicate"]),
    "status_on_a_delivery": ({"match": {"event": "upload.in_review"},
                              "effect": {"status": 503}}, ["effect"]),
    "unknown_event": ({"match": {"event": "task.created"}, "effect": {"duplicate": 2}},
                      ["match", "event"]),
    "request_and_delivery_fields": ({"match": {"event": "upload.in_review", "method": "GET"},
                                     "effect": {"delay_ms": 5}}, ["match"]),
    "connector_without_event": ({"match": {"connector_id": "conn_x"},
                                 "effect": {"duplicate": 2}}, ["match"]),
    "unknown_operation": ({**GOOD, "match": {"operation": "discard_task"}},
                          ["match", "operation"]),
    "test_helper_operation": ({**GOOD, "match": {"operation": "createTestTask"}},
                              ["match", "operation"]),
    "faults_operation": ({**GOOD, "match": {"operation": "clearTestFaults"}},
                         ["match", "operation"]),
}


@pytest.mark.parametrize("rule, field", BAD_RULES.values(), ids=BAD_RULES.keys())
def test_a_bad_rule_is_a_validation_error_naming_the_field_and_stores_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, rule: dict[str, Any],
    field: list[str],
) -> None:
    response = client.post(faults_path(seed), json=rule, headers=auth(seed["keys"]["helpers"]))
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, "validation_error"), error
    named: Any = error["details"]["fields"]
    for name in field:
        assert name in named, (field, error)
        named = named[name]
    assert count_rows(engine, "SELECT count(*) FROM fault") == 0
    assert count_rows(engine, "SELECT fault_count FROM team WHERE id = :t",
                      t=seed["team_id"]) == 0


def test_every_bad_part_of_a_rule_is_named_at_once(client: FlaskClient, seed: dict[str, Any]
                                                  ) -> None:
    response = client.post(faults_path(seed), json={"match": {}, "effect": {"status": 404},
                                                    "times": 0},
                           headers=auth(seed["keys"]["helpers"]))
    fields = response.get_json()["error"]["details"]["fields"]
    assert set(fields) == {"match", "effect", "times"}
    assert "status" in fields["effect"]


def test_an_unknown_operation_lists_the_known_ones(client: FlaskClient, seed: dict[str, Any]
                                                   ) -> None:
    response = client.post(faults_path(seed), json={**GOOD, "match": {"operation": "discard"}},
                           headers=auth(seed["keys"]["helpers"]))
    known = response.get_json()["error"]["details"]["known_operations"]
    assert {"discardTask", "getTask", "listTasks", "createUpload"} <= set(known)
    assert not [name for name in known if "Test" in name]


# --- matching and counting ----------------------------------------------------------------------

def test_a_status_fault_answers_instead_of_the_operation_times_then_stops(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    fault = add_fault(client, seed, match={"operation": "discardTask"},
                      effect={"status": 503, "retry_after": 2}, times=2)
    task_id = seed["tasks"]["REVIEWING"][0]
    for _ in range(2):
        response = discard(client, seed, task_id)
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert response.headers["X-Sendai-Fault"] == fault["id"]
        body = response.get_json()
        assert body["error"] == {"status": 503, "code": "unavailable",
                                 "message": "The service is unavailable; retry shortly."}
        assert body["request_id"] == response.headers["X-Request-Id"]
        assert status_of(engine, task_id) == "REVIEWING"  # the operation did not run
    third = discard(client, seed, task_id)
    assert third.status_code == 200 and "X-Sendai-Fault" not in third.headers
    [listed] = client.get(faults_path(seed), headers=auth(seed["keys"]["helpers"])
                          ).get_json()["payload"]
    assert (listed["hits"], listed["remaining"]) == (2, 0)


@pytest.mark.parametrize("status, code", [(429, "rate_limited"), (500, "internal_error"),
                                          (502, "bad_gateway"), (503, "unavailable"),
                                          (504, "gateway_timeout")])
def test_each_status_has_its_code(client: FlaskClient, seed: dict[str, Any], status: int,
                                  code: str) -> None:
    add_fault(client, seed, match={"operation": "getTask"}, effect={"status": status})
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(seed["keys"]["read"]))
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code)
    assert "Retry-After" not in response.headers


def test_an_html_body_is_a_load_balancers_page(client: FlaskClient, seed: dict[str, Any]
                                               ) -> None:
    add_fault(client, seed, match={"method": "GET"}, effect={"status": 502, "body": "html"})
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(seed["keys"]["read"]))
    assert response.status_code == 502
    assert response.content_type.startswith("text/html")
    assert b"<h1>502 Bad Gateway</h1>" in response.data


def test_an_empty_body_has_no_content(client: FlaskClient, seed: dict[str, Any]) -> None:
    add_fault(client, seed, match={"method": "GET"}, effect={"status": 504, "body": "empty"})
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(seed["keys"]["read"]))
    assert (response.status_code, response.data) == (504, b"")
    assert "Content-Type" not in response.headers


def test_after_the_change_commits_and_the_answer_is_replaced(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    add_fault(client, seed, match={"operation": "discardTask"},
              effect={"status": 500, "after": True})
    task_id = seed["tasks"]["REVIEWING"][0]
    response = discard(client, seed, task_id)
    assert response.status_code == 500
    assert status_of(engine, task_id) == "DISCARDED"
    retry = discard(client, seed, task_id)
    assert (retry.status_code, retry.get_json()["error"]["code"]) == (400, "invalid_task_state")


RULES_AND_REQUESTS = [
    ({"method": "POST"}, True),
    ({"method": "GET"}, False),
    ({"path": "/project/*/task/*/discard"}, True),
    ({"path": "/project/*/discard"}, False),
    ({"path": "/project/**/discard"}, True),
    ({"path": "/**"}, True),
    ({"path": "/project/*/task/*"}, False),
    ({"task_id": "<task>"}, True),
    ({"task_id": "task_nope"}, False),
    ({"project_id": "<project>"}, True),
    ({"project_id": "proj_nope"}, False),
    ({"operation": "discardTask", "method": "POST", "project_id": "<project>"}, True),
    ({"operation": "completeTask"}, False),
]


@pytest.mark.parametrize("match, faulted", RULES_AND_REQUESTS)
def test_every_given_match_field_must_hold(
    client: FlaskClient, seed: dict[str, Any], match: dict[str, str], faulted: bool
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    values = {"<task>": task_id, "<project>": seed["project_id"]}
    add_fault(client, seed, match={k: values.get(v, v) for k, v in match.items()},
              effect={"status": 503})
    response = discard(client, seed, task_id)
    assert response.status_code == (503 if faulted else 200)


def test_never_matched_paths(client: FlaskClient, seed: dict[str, Any]) -> None:
    """A rule that matches everything leaves the test helpers, the faults endpoints, health,
    the docs and the inspector alone: a test can always take its fault back."""
    add_fault(client, seed, match={"path": "/**"}, effect={"status": 503}, times=None)
    helpers = auth(seed["keys"]["helpers"])
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    assert client.post(f"{base}/test_helpers/task", json={}, headers=helpers).status_code == 201
    assert client.get(faults_path(seed), headers=helpers).status_code == 200
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/inspect/"):
        response = client.get(path)
        assert response.status_code in (200, 302), path
        assert "X-Sendai-Fault" not in response.headers, path
    assert client.delete(faults_path(seed), headers=helpers).status_code == 200
    assert discard(client, seed, seed["tasks"]["REVIEWING"][0]).status_code == 200


def test_another_teams_requests_are_never_matched(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    add_fault(client, seed, match={"path": "/**"}, effect={"status": 503}, times=None)
    other = seed["other"]
    response = client.post(
        f"/v2/{other['team_id']}/project/{other['project_id']}/task/{other['task_id']}/discard",
        headers=auth(other["key"]))
    assert response.status_code == 200
    # and this team's key on the other team's path: its 404, not the fault
    response = client.get(f"/v2/{other['team_id']}/project/{other['project_id']}/task",
                          headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 404


def test_the_oldest_matching_fault_answers_first(client: FlaskClient, seed: dict[str, Any]
                                                 ) -> None:
    first = add_fault(client, seed, match={"method": "GET"}, effect={"status": 500})
    second = add_fault(client, seed, match={"operation": "getTask"}, effect={"status": 502})
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    answers = [client.get(path, headers=auth(seed["keys"]["read"])) for _ in range(3)]
    assert [(a.status_code, a.headers.get("X-Sendai-Fault")) for a in answers] == [
        (500, first["id"]), (502, second["id"]), (200, None)]


def test_times_null_lasts_until_deleted(client: FlaskClient, seed: dict[str, Any]) -> None:
    fault = add_fault(client, seed, match={"operation": "getTask"}, effect={"status": 503},
                      times=None)
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    assert [client.get(path, headers=auth(seed["keys"]["read"])).status_code
            for _ in range(5)] == [503] * 5
    [listed] = client.get(faults_path(seed), headers=auth(seed["keys"]["helpers"])
                          ).get_json()["payload"]
    assert (listed["id"], listed["hits"], listed["remaining"]) == (fault["id"], 5, None)


def _sequence(client: FlaskClient, seed: dict[str, Any], rule_seed: int, n: int) -> list[bool]:
    client.delete(faults_path(seed), headers=auth(seed["keys"]["helpers"]))
    add_fault(client, seed, match={"operation": "getTask"}, effect={"status": 503},
              times=None, probability=0.5, seed=rule_seed)
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    return [client.get(path, headers=auth(seed["keys"]["read"])).status_code == 503
            for _ in range(n)]


def test_probability_with_a_seed_gives_the_same_sequence_every_time(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    first = _sequence(client, seed, 7, 24)
    assert _sequence(client, seed, 7, 24) == first
    # the rule's own sequence, and known in advance: what faults.chosen says
    assert first == [faults.chosen(7, n, 0.5) for n in range(1, 25)]
    assert 0 < sum(first) < 24
    assert _sequence(client, seed, 8, 24) != first


def test_chosen_is_a_fixed_function_of_seed_and_index() -> None:
    assert [faults.chosen(7, n, 0.5) for n in range(1, 11)] == [
        faults.chosen(7, n, 0.5) for n in range(1, 11)]
    assert all(faults.chosen(None, n, 1.0) for n in range(1, 5))
    assert not any(faults.chosen(3, n, 0.0) for n in range(1, 50))


def test_glob_matches_within_and_across_segments() -> None:
    assert faults.glob_regex("/project/*/task").fullmatch("/project/p/task")
    assert not faults.glob_regex("/project/*/task").fullmatch("/project/p/q/task")
    assert faults.glob_regex("/project/**/task").fullmatch("/project/p/q/task")
    assert faults.glob_regex("/a.b").fullmatch("/a.b")
    assert not faults.glob_regex("/a.b").fullmatch("/axb")


# --- delay and drop, in process -----------------------------------------------------------------

def test_a_delay_answers_normally_later_and_holds_no_connection_meanwhile(
    app: Flask, client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    fault = add_fault(client, seed, match={"operation": "getTask"}, effect={"delay_ms": 400})
    pool: Any = engine.pool
    idle = pool.checkedout()  # the test's own unit of work (the seed's) holds one
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:  # what the pool has out while the request waits
        while not done.wait(0.02):
            seen.append(pool.checkedout())

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    response = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                          headers=auth(seed["keys"]["read"]))
    elapsed = time.monotonic() - started
    done.set()
    watcher.join(5)
    assert response.status_code == 200
    assert response.get_json()["payload"]["id"] == seed["tasks"]["REVIEWING"][0]
    assert response.headers["X-Sendai-Fault"] == fault["id"]
    assert elapsed >= 0.4
    # Most of the 400 ms is the wait, with the connection back in the pool.
    assert seen.count(idle) >= 5, (idle, seen)


class _FakeSocket:
    def __init__(self) -> None:
        self.shut: list[int] = []

    def shutdown(self, how: int) -> None:
        self.shut.append(how)


@pytest.mark.parametrize("after", [False, True])
def test_drop_shuts_the_socket_before_or_after_the_commit(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, after: bool
) -> None:
    add_fault(client, seed, match={"operation": "discardTask"},
              effect={"drop": True, "after": after})
    fake = _FakeSocket()
    task_id = seed["tasks"]["REVIEWING"][0]
    client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]),
                environ_overrides={"gunicorn.socket": fake})
    assert fake.shut == [socket.SHUT_RDWR]
    assert status_of(engine, task_id) == ("DISCARDED" if after else "REVIEWING")


# --- free when unused ---------------------------------------------------------------------------

def _round_trips(client: FlaskClient, engine: Engine, path: str, key: str) -> int:
    client.get(path, headers=auth(key))  # warm: the key's use recorded, statements prepared
    with trace_database(engine) as trace:
        response = client.get(path, headers=auth(key))
        assert response.status_code == 200
    return len(trace.round_trips)


def test_a_team_without_faults_pays_no_statement_for_them(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, uow: UnitOfWork
) -> None:
    path = task_path(seed, seed["tasks"]["REVIEWING"][0])
    key = seed["keys"]["read"]
    assert _round_trips(client, engine, path, key) == 3  # the key, the task, its children
    # Another team's faults cost this team nothing either.
    other_helpers = create_key(uow, seed["other"]["team_id"], ["test_helpers"], []).key
    response = client.post(f"/v2/{seed['other']['team_id']}/test_helpers/faults",
                           json={"match": {"path": "/**"}, "effect": {"status": 503}},
                           headers=auth(other_helpers))
    assert response.status_code == 201
    assert _round_trips(client, engine, path, key) == 3
    # A rule of its own that does not match costs one read; taken away, nothing again.
    add_fault(client, seed, match={"operation": "discardTask"}, effect={"status": 503})
    assert _round_trips(client, engine, path, key) == 4
    client.delete(faults_path(seed), headers=auth(seed["keys"]["helpers"]))
    assert _round_trips(client, engine, path, key) == 3
