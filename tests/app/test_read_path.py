"""The fast read path (issue 5): a task read in a fixed number of statements, the compiled
dump equal to marshmallow's, and racing writers still getting exactly one winner. No timing
assertions here: speed is measured by `make bench`."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from marshmallow import Schema
from sqlalchemy import Engine

from sendai_server.services.demo import EXAMPLE_TASK
from sendai_server.services.task_creation import TaskSpec, create_tasks, synthetic_pages
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.api.schemas import TaskEnvelopeSchema
from tests.support.db_trace import trace_database
from tests.support.helpers import LiveServer, auth, count_rows, task_path


def _strip_ids(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {key: ([{k: v for k, v in item.items() if k != "id"} for item in value]
               if isinstance(value, list) else value)
         for key, value in page.items() if key != "id"}
        for page in pages
    ]


@pytest.fixture
def large_task(uow: UnitOfWork, seed: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    rng = random.Random(3)
    pages = synthetic_pages(12, 7, rng)
    for number, page in enumerate(pages):
        page["checkboxes"] = [{"confidence": 0.5, "checked": number % 2 == 0,
                               "coordinates": [[1, 2], [3, 4.5], [5, 6], [7, 8]]}]
        page["segments"] = [{"confidence": 1, "coordinates": [[0, 0], [1, 0], [1, 1], [0, 1]]}]
    meta = [{"name": f"key{n}", "value": f"value {n}"} for n in range(3)]
    [task_id] = create_tasks(
        uow, seed["project_id"], [TaskSpec(name="Large", meta=meta, pages=pages)]
    )
    return task_id, pages


def test_get_returns_the_seed_example_task_exactly(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    response = client.get(task_path(seed, task_id), headers=auth(seed["keys"]["read"]))
    task = response.get_json()["payload"]
    assert task["name"] == EXAMPLE_TASK["name"]
    assert task["meta"] == EXAMPLE_TASK["meta"]
    assert _strip_ids(task["pages"]) == EXAMPLE_TASK["pages"]
    assert list(task) == ["id", "name", "created_at", "meta", "status", "step_type",
                          "upload_id", "project_id", "approved", "exported_at",
                          "export_failed_at", "last_opened_at", "pages"]


def test_get_keeps_pages_and_items_in_order(
    client: FlaskClient, seed: dict[str, Any], large_task: tuple[str, list[dict[str, Any]]]
) -> None:
    task_id, pages = large_task
    response = client.get(task_path(seed, task_id), headers=auth(seed["keys"]["read"]))
    task = response.get_json()["payload"]
    assert task["meta"] == [{"name": f"key{n}", "value": f"value {n}"} for n in range(3)]
    assert _strip_ids(task["pages"]) == [
        {"annotations": [], "checkboxes": [], "segments": [], "signatures": [], **page}
        for page in pages
    ]


def test_discard_returns_the_whole_task_read_in_its_own_transaction(
    client: FlaskClient, seed: dict[str, Any], large_task: tuple[str, list[dict[str, Any]]]
) -> None:
    task_id, _ = large_task
    before = client.get(task_path(seed, task_id), headers=auth(seed["keys"]["edit"]))
    after = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    expected = before.get_json()["payload"]
    got = after.get_json()["payload"]
    assert got["status"] == "DISCARDED"
    assert got["last_opened_at"] is not None
    assert {**got, "status": "x", "last_opened_at": None} == {
        **expected, "status": "x", "last_opened_at": None
    }


@pytest.mark.parametrize("method, action", [("get", ""), ("post", "discard")])
def test_statements_per_request_do_not_grow_with_the_task(
    app: Flask, client: FlaskClient, engine: Engine, seed: dict[str, Any],
    large_task: tuple[str, list[dict[str, Any]]], method: str, action: str,
) -> None:
    small_id = seed["tasks"]["REVIEWING"][1]
    headers = auth(seed["keys"]["edit"])
    client.get(task_path(seed, small_id), headers=headers)  # the key's first use is recorded
    # The first of each statement (PostgreSQL: prepared on first use, a round trip of its own).
    warm_up = seed["tasks"]["REVIEWING"][2]
    getattr(client, method)(task_path(seed, warm_up, action), headers=headers)
    counts = []
    with trace_database(engine) as trace:
        for task_id in (small_id, large_task[0]):
            trace.clear()
            response = getattr(client, method)(task_path(seed, task_id, action), headers=headers)
            assert response.status_code == 200
            counts.append((len(trace.round_trips), trace.checkouts))
    assert counts[0] == counts[1]
    # GET: the key, the task row, its children; discard: the key, BEGIN, the locked row, the
    # UPDATE, the event, the upload's settling, COMMIT, the children. One pooled connection.
    assert counts[0] == ((3, 1) if method == "get" else (8, 1))


def _sample_objects(large: list[dict[str, Any]]) -> list[dict[str, Any]]:
    moment = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    return [
        {"payload": {"id": "task_1", "name": "n", "created_at": moment, "meta": [],
                     "status": "REVIEWING", "step_type": "EXTRACT", "upload_id": None,
                     "project_id": "proj_1", "approved": False, "exported_at": None,
                     "export_failed_at": moment, "last_opened_at": None, "pages": large}},
        # Values of unusual types take marshmallow's own path: the same output either way.
        {"payload": {"id": 7, "name": b"bytes", "created_at": moment, "meta": None,
                     "status": "DISCARDED", "approved": 1, "pages": [
                         {"id": "p", "width": 10.0, "height": "20", "annotations": [
                             {"id": "a", "entity_id": "e", "confidence": "0.5",
                              "content": "c", "top": True, "left_of_line": 3}]}]}},
        {"payload": {}},
    ]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_compiled_dump_equals_marshmallows(index: int) -> None:
    schema = TaskEnvelopeSchema()
    pages = synthetic_pages(3, 4, random.Random(1))
    pages[0]["checkboxes"] = [{"id": "cb", "confidence": 1, "checked": True,
                               "coordinates": [[1, 2], [3, 4], [5, 6], [7, 8]]}]
    document = _sample_objects(pages)[index]
    fast = schema.dump(document)
    reference = Schema.dump(schema, document)
    assert fast == reference
    assert json.dumps(fast) == json.dumps(reference)  # the same keys in the same order


@pytest.mark.slow
def test_racing_discards_have_exactly_one_winner_across_workers(
    database_url: str, seed: dict[str, Any], engine: Engine
) -> None:
    server = LiveServer(database_url, workers=4)
    try:
        task_id = seed["tasks"]["REVIEWING"][1]
        url = server.url + task_path(seed, task_id, "discard")
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(
                lambda _: requests.post(url, headers=auth(seed["keys"]["edit"]), timeout=30),
                range(8),
            ))
    finally:
        server.stop()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [400] * 7
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 400} == {
        "invalid_task_state"
    }
    assert count_rows(
        engine, "SELECT count(*) FROM task_event WHERE task_id = :t AND action = 'discard'",
        t=task_id,
    ) == 1
