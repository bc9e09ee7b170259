"""API lookup connectors (kind `api_lookup`) on SQLite and PostgreSQL, against a real local
receiver shaped like Send AI's `api-lookup` template: the answer sets content and confidence,
an errorMessage or a failing lookup refuses the completion and changes nothing, a
warningMessage is kept on the event, and a slow lookup holds no lock (over live gunicorn)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.helpers import LiveServer, auth, count_rows

PAGES = [{"width": 2480, "height": 3508, "annotations": [
    {"entity_id": "vendor_id", "confidence": 0.6, "content": "ACME", "top": 10,
     "left_of_line": 20},
    {"entity_id": "total_amount", "confidence": 0.7, "content": "12.00", "top": 30,
     "left_of_line": 20},
]}]


class Lookup:
    """A receiver like the api-lookup template: POST an annotation, get {id, value, accuracy,
    errorMessage?, warningMessage?} back, as `answer(annotation)` says."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, Any]]) -> None:
        self.asked: list[dict[str, Any]] = []
        lookup = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                lookup.asked.append(body)
                status, reply = answer(body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/lookup"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lookups() -> Iterator[list[Lookup]]:
    made: list[Lookup] = []
    yield made
    for lookup in made:
        lookup.close()


def _setup(client: FlaskClient | Any, base: str, key: str, url: str) -> tuple[str, dict[str, Any]]:
    post = client.post
    made = post(f"{base}/test_helpers/connectors", headers=auth(key),
                json={"url": url, "kind": "api_lookup", "entity_ids": ["vendor_id"]})
    made_json = made.get_json() if hasattr(made, "get_json") else made.json()
    assert made.status_code == 201, made_json
    task = post(f"{base}/test_helpers/task", headers=auth(key),
                json={"status": "REVIEWING", "pages": PAGES})
    task_json = task.get_json() if hasattr(task, "get_json") else task.json()
    return task_json["payload"]["id"], made_json["payload"]


def _base(seed: dict[str, Any]) -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}"


def test_a_connector_of_kind_api_lookup_needs_entity_ids(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    response = client.post(f"{_base(seed)}/test_helpers/connectors",
                           headers=auth(seed["keys"]["helpers"]),
                           json={"url": "http://127.0.0.1:9/x", "kind": "api_lookup"})
    assert response.status_code == 400
    assert "entity_ids" in response.get_json()["error"]["details"]["fields"]


def test_the_answer_sets_content_and_confidence_and_keeps_the_warning(
    client: FlaskClient, seed: dict[str, Any], lookups: list[Lookup],
) -> None:
    lookups.append(Lookup(lambda a: (200, {"id": a["id"], "value": "ACME Corp. (V-17)",
                                           "accuracy": -1, "warningMessage": "Renamed"})))
    key = seed["keys"]["helpers"]
    task_id, connector = _setup(client, _base(seed), key, lookups[0].url)
    assert connector["kind"] == "api_lookup" and connector["entity_ids"] == ["vendor_id"]
    response = client.post(f"{_base(seed)}/task/{task_id}/complete", headers=auth(key))
    assert response.status_code == 200, response.get_json()
    [asked] = lookups[0].asked
    assert (asked["type"], asked["entity_id"], asked["content"], asked["accuracy"]) == (
        "API_LOOKUP", "vendor_id", "ACME", 0.6)
    annotations = response.get_json()["payload"]["pages"][0]["annotations"]
    assert (annotations[0]["content"], annotations[0]["confidence"]) == ("ACME Corp. (V-17)", 1)
    assert (annotations[1]["content"], annotations[1]["confidence"]) == ("12.00", 0.7)
    events = client.get(f"{_base(seed)}/task/{task_id}/events", headers=auth(key)).get_json()
    assert events["payload"][-1]["action"] == "complete"
    assert events["payload"][-1]["warnings"] == [
        {"annotation_id": annotations[0]["id"], "entity_id": "vendor_id", "message": "Renamed"}]


@pytest.mark.parametrize("answer,status,code", [
    (lambda a: (200, {"id": a["id"], "value": None, "accuracy": 0,
                      "errorMessage": "Unknown vendor"}), 400, "validation_error"),
    (lambda a: (502, {"oops": True}), 503, "unavailable"),
    (lambda a: (200, "not the template"), 503, "unavailable"),
])
def test_an_error_message_or_a_failing_lookup_refuses_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine, lookups: list[Lookup],
    answer: Callable[[dict[str, Any]], tuple[int, Any]], status: int, code: str,
) -> None:
    lookups.append(Lookup(answer))
    key = seed["keys"]["helpers"]
    task_id, _ = _setup(client, _base(seed), key, lookups[0].url)
    before = client.get(f"{_base(seed)}/task/{task_id}", headers=auth(key)).get_json()
    events = count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t", t=task_id)
    response = client.post(f"{_base(seed)}/task/{task_id}/complete", headers=auth(key))
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    if status == 400:
        [detail] = error["details"]
        assert (detail["entity_id"], detail["message"]) == ("vendor_id", "Unknown vendor")
    assert client.get(f"{_base(seed)}/task/{task_id}", headers=auth(key)).get_json() == before
    assert count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t",
                      t=task_id) == events


@pytest.mark.slow
def test_a_slow_lookup_holds_no_lock_a_discard_meanwhile_is_not_slowed(
    database_url: str, seed: dict[str, Any], lookups: list[Lookup],
) -> None:
    release = threading.Event()

    def slow(a: dict[str, Any]) -> tuple[int, Any]:
        release.wait(20)
        return 200, {"id": a["id"], "value": "V-1", "accuracy": 0.9}

    lookups.append(Lookup(slow))
    server = LiveServer(database_url, workers=2)  # two processes: each request on its own
    try:
        http = requests.Session()
        base = server.url + _base(seed)
        key = seed["keys"]["helpers"]
        task_id, _ = _setup(http, base, key, lookups[0].url)
        other = seed["tasks"]["REVIEWING"][1]
        with ThreadPoolExecutor(1) as pool:
            completing = pool.submit(requests.post, f"{base}/task/{task_id}/complete",
                                     headers=auth(key), timeout=30)
            deadline = time.monotonic() + 10
            while not lookups[0].asked and time.monotonic() < deadline:
                time.sleep(0.01)  # until the lookup is being asked (a barrier, not a hope)
            assert lookups[0].asked, "the lookup was never asked"
            started = time.monotonic()
            discarded = requests.post(f"{base}/task/{other}/discard", headers=auth(key),
                                      timeout=30)
            took = time.monotonic() - started
            assert discarded.status_code == 200 and not completing.done()
            release.set()
            assert completing.result().status_code == 200
        assert took < 5, f"a discard took {took:.1f} s while a lookup waited"
    finally:
        release.set()
        server.stop()


# --- the CLI's connectors create ----------------------------------------------------------------

def test_connectors_create_takes_oauth2_token_exchange_and_api_lookup_options(
    database_url: str, client: FlaskClient, seed: dict[str, Any]
) -> None:
    from tests.support.cli import run

    project = seed["project_id"]
    oauth = run(database_url, "connectors", "create", "--project", project, "--url",
                "https://hooks.example/a", "--oauth2-token-url", "https://auth.example/token",
                "--oauth2-client-id", "cid", "--oauth2-client-secret", "SECRET-1",
                "--oauth2-scope", "hooks", "--json")
    assert oauth.exit_code == 0, oauth.output
    exchange = run(database_url, "connectors", "create", "--project", project, "--url",
                   "https://hooks.example/b", "--token-exchange-url", "https://auth.example/x",
                   "--token-exchange-method", "POST", "--token-query", "user=me",
                   "--token-form", "password=SECRET-2", "--token-key", "data.token",
                   "--expiry-key", "data.expires", "--expiry-type", "datetime", "--json")
    assert exchange.exit_code == 0, exchange.output
    lookup = run(database_url, "connectors", "create", "--project", project, "--url",
                 "https://lookup.example/", "--kind", "api_lookup", "--entity", "vendor_id",
                 "--json")
    assert lookup.exit_code == 0, lookup.output
    listed = json.loads(run(database_url, "connectors", "list", "--project", project,
                            "--json").output)["connectors"]
    by_url = {c["url"]: c for c in listed}
    assert by_url["https://hooks.example/a"]["oauth2"]["client_id"] == "cid"
    assert by_url["https://hooks.example/b"]["token_exchange"]["query"] == {"user": "me"}
    assert by_url["https://hooks.example/b"]["token_exchange"]["expiry_type"] == "datetime"
    assert (by_url["https://lookup.example/"]["kind"],
            by_url["https://lookup.example/"]["entity_ids"]) == ("api_lookup", ["vendor_id"])
    assert "SECRET" not in json.dumps(listed)
    bad = run(database_url, "connectors", "create", "--project", project, "--url",
              "https://hooks.example/c", "--oauth2-token-url", "ftp://nope", "--json")
    assert bad.exit_code != 0 and "oauth2" in bad.output
