"""Snapshots of a team (docs/snapshots.md): restore puts every table of the team back to exactly
its rows, never touches another team, keeps keys, holds under racing reads and writes, survives
a restart; files are kept while a snapshot refers to them. Both databases."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth
from tests.support.snapshots import (
    HELPERS,
    assert_same_rows,
    call,
    change_everything,
    project_path,
    state,
    state_of,
    team_path,
)

__all__ = ["state"]  # the fixture

def test_restore_returns_every_table_of_the_team_to_exactly_its_rows(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    before = state_of(engine, seed["team_id"])
    other_before = state_of(engine, seed["other"]["team_id"])
    empty = [t for t, (_c, rows) in before.items() if not rows]
    assert empty == [], f"the state to compare has no rows in {empty}"
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201,
                json={"name": "every table"})["payload"]
    assert snap["id"].startswith("snap_") and snap["name"] == "every table"
    assert snap["counts"]["tasks"] == len(before["task"][1])
    assert snap["counts"]["files"] == 1

    change_everything(client, seed)
    assert state_of(engine, seed["team_id"]) != before

    restored = call(client, seed, "POST", team_path(seed, f"/snapshots/{snap['id']}/restore"),
                    200)["payload"]
    assert restored["id"] == snap["id"]
    assert_same_rows(before, state_of(engine, seed["team_id"]))
    assert_same_rows(other_before, state_of(engine, seed["other"]["team_id"]))


def test_restore_makes_pending_jobs_pending_again_and_keeps_keys(
    client: FlaskClient, engine: Engine, uow: UnitOfWork, seed: dict[str, Any],
    state: dict[str, Any],
) -> None:
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    assert snap["counts"]["jobs"] >= 2  # the upload's extract, the notification's delivery
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM job"))
    key = create_key(uow, seed["team_id"], ["task.read"], [seed["project_id"]], "made later")
    call(client, seed, "POST", team_path(seed, f"/snapshots/{snap['id']}/restore"), 200)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM job")) == snap["counts"]["jobs"]
    listed = client.get(project_path(seed, "/task"), headers=auth(key.key))
    assert listed.status_code == 200
    assert client.get(project_path(seed, "/task"),
                      headers=auth(seed["keys"]["edit"])).status_code == 200


def test_reset_empties_the_team_and_keeps_its_keys_and_snapshots(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
    config: Config,
) -> None:
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    other_before = state_of(engine, seed["other"]["team_id"])
    response = client.delete(team_path(seed, "/state"), headers=auth(seed["keys"][HELPERS]))
    assert response.status_code == 204 and response.data == b""
    after = state_of(engine, seed["team_id"])
    assert {t: rows for t, (_c, rows) in after.items() if rows and t != "team"} == {}
    assert_same_rows(other_before, state_of(engine, seed["other"]["team_id"]))
    # The keys stay (they see no project now), and so does the snapshot and its file.
    listed = call(client, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"]
    assert [s["id"] for s in listed] == [snap["id"]]
    files = Path(config.storage_url)
    assert len([p for p in files.iterdir() if not p.name.startswith(".")]) == 1
    call(client, seed, "POST", team_path(seed, f"/snapshots/{snap['id']}/restore"), 200)
    assert client.get(project_path(seed, "/task"),
                      headers=auth(seed["keys"]["edit"])).status_code == 200


def test_a_file_is_kept_while_a_snapshot_refers_to_it(
    client: FlaskClient, seed: dict[str, Any], state: dict[str, Any], config: Config,
) -> None:
    files = Path(config.storage_url)

    def stored() -> list[str]:
        return [p.name for p in files.iterdir() if not p.name.startswith(".")]

    [sha256] = stored()
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    upload_id = state["upload"]["id"]
    client.delete(project_path(seed, f"/upload/{upload_id}"), headers=auth(seed["keys"][HELPERS]))
    assert stored() == [sha256]  # the snapshot refers to it
    call(client, seed, "POST", team_path(seed, f"/snapshots/{snap['id']}/restore"), 200)
    got = client.get(project_path(seed, f"/task/{state['task']}"),
                     headers=auth(seed["keys"]["edit"]))
    assert got.status_code == 200
    call(client, seed, "DELETE", team_path(seed, f"/snapshots/{snap['id']}"), 200)
    assert stored() == [sha256]  # the restored upload refers to it again
    call(client, seed, "DELETE", team_path(seed, "/state"), 204)
    assert stored() == []


def test_snapshots_are_listed_oldest_first_and_deleted_one_at_a_time(
    client: FlaskClient, seed: dict[str, Any],
) -> None:
    first = call(client, seed, "POST", team_path(seed, "/snapshots"), 201,
                 json={"name": "a"})["payload"]
    second = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    listed = call(client, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"]
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    assert listed[1]["name"] is None
    gone = call(client, seed, "DELETE", team_path(seed, f"/snapshots/{first['id']}"), 200)
    assert gone["payload"]["id"] == first["id"]
    listed = call(client, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"]
    assert [s["id"] for s in listed] == [second["id"]]
    call(client, seed, "DELETE", team_path(seed, f"/snapshots/{first['id']}"), 404)


def test_another_teams_snapshot_is_not_found(client: FlaskClient, seed: dict[str, Any]) -> None:
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    other = auth(seed["other"]["key"])
    for method, rest in (("POST", "/restore"), ("GET", "/export"), ("DELETE", "")):
        path = f"/v2/{seed['other']['team_id']}/test_helpers/snapshots/{snap['id']}{rest}"
        response = client.open(path, method=method, headers=other)
        assert response.status_code in (403, 404), (method, rest)
    # With the test_helpers scope on the other team: still not found there.
    helper = create_key(UnitOfWork(client.application.extensions["sendai_engine"]),
                        seed["other"]["team_id"], ["test_helpers"], [], "other helper").key
    for method, rest in (("POST", "/restore"), ("GET", "/export"), ("DELETE", "")):
        path = f"/v2/{seed['other']['team_id']}/test_helpers/snapshots/{snap['id']}{rest}"
        assert client.open(path, method=method, headers=auth(helper)).status_code == 404


def test_snapshots_need_the_test_helpers_scope(client: FlaskClient, seed: dict[str, Any]
                                               ) -> None:
    response = client.post(team_path(seed, "/snapshots"), json={},
                           headers=auth(seed["keys"]["edit"]))
    assert response.status_code == 403
    assert response.get_json()["error"]["details"]["required"] == "test_helpers"


def test_snapshot_paths_do_not_exist_without_test_helpers(config: Config,
                                                          seed: dict[str, Any]) -> None:
    app = create_app(Config(**{**config.__dict__, "test_helpers": False}))
    try:
        client = app.test_client()
        for method, rest in (("POST", "/snapshots"), ("GET", "/snapshots"),
                             ("DELETE", "/state"), ("POST", "/snapshots/import")):
            response = client.open(team_path(seed, rest), method=method,
                                   headers=auth(seed["keys"][HELPERS]))
            assert response.status_code == 404, (method, rest)
    finally:
        app.extensions["sendai_engine"].dispose()


def test_a_snapshot_name_is_checked(client: FlaskClient, seed: dict[str, Any]) -> None:
    response = call(client, seed, "POST", team_path(seed, "/snapshots"), 400,
                    json={"name": "x" * 201})
    assert "name" in response["error"]["details"]["fields"]


def test_a_snapshot_survives_a_restart(
    app: Flask, client: FlaskClient, config: Config, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    engine = app.extensions["sendai_engine"]
    before = state_of(engine, seed["team_id"])
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    change_everything(client, seed)
    engine.dispose()

    restarted = create_app(config)
    try:
        again = restarted.test_client()
        listed = call(again, seed, "GET", team_path(seed, "/snapshots"), 200)["payload"]
        assert [s["id"] for s in listed] == [snap["id"]]
        call(again, seed, "POST", team_path(seed, f"/snapshots/{snap['id']}/restore"), 200)
        assert_same_rows(before, state_of(restarted.extensions["sendai_engine"],
                                          seed["team_id"]))
    finally:
        restarted.extensions["sendai_engine"].dispose()


def _task_count(engine: Engine, project_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(text("SELECT count(*) FROM task WHERE project_id = :p"),
                               {"p": project_id}) or 0)


def test_a_restore_racing_reads_and_writes_leaves_one_state_whole(
    app: Flask, client: FlaskClient, engine: Engine, seed: dict[str, Any],
) -> None:
    """Readers see the tasks before the restore or after it, never some of each; a task made
    while it runs is there whole (with its upload, pages and event) or not at all."""
    snap = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})["payload"]
    at_snapshot = _task_count(engine, seed["project_id"])
    for n in range(40):
        call(client, seed, "POST", project_path(seed, "/test_helpers/task"), 201,
             json={"name": f"extra {n}", "pages": [{"width": 1, "height": 1}] * 3})
    before_restore = _task_count(engine, seed["project_id"])

    start = threading.Barrier(4, timeout=30)
    stop = threading.Event()
    seen: set[int] = set()
    made: list[str] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            start.wait()
            while not stop.is_set():
                seen.add(_task_count(engine, seed["project_id"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    def write() -> None:
        try:
            writer = app.test_client()
            start.wait()
            for n in range(15):
                response = writer.post(project_path(seed, "/test_helpers/task"),
                                       json={"name": f"racing {n}",
                                             "pages": [{"width": 2, "height": 2}] * 2},
                                       headers=auth(seed["keys"][HELPERS]))
                assert response.status_code == 201, response.get_json()
                made.append(response.get_json()["payload"]["id"])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=read), threading.Thread(target=read),
               threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    restorer = app.test_client()
    start.wait()
    response = restorer.post(team_path(seed, f"/snapshots/{snap['id']}/restore"),
                             headers=auth(seed["keys"][HELPERS]))
    threads[2].join(timeout=60)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert response.status_code == 200, response.get_json()
    assert failures == []
    # Reads saw whole states only: the 40 extra (plus racing ones made before the restore), or
    # the snapshot's (plus racing ones made after).
    racing = len(made)
    assert all(before_restore <= n <= before_restore + racing
               or at_snapshot <= n <= at_snapshot + racing for n in seen), sorted(seen)
    with engine.connect() as conn:
        for task_id in made:
            task = conn.scalar(text("SELECT count(*) FROM task WHERE id = :t"), {"t": task_id})
            pages = conn.scalar(text("SELECT count(*) FROM page WHERE task_id = :t"),
                                {"t": task_id})
            events = conn.scalar(text("SELECT count(*) FROM task_event WHERE task_id = :t"),
                                 {"t": task_id})
            uploads = conn.scalar(text(
                "SELECT count(*) FROM upload u JOIN task t ON t.upload_id = u.id "
                "WHERE t.id = :t"), {"t": task_id})
            assert (task, pages, events, uploads) in ((0, 0, 0, 0), (1, 2, 1, 1)), task_id
        survivors = conn.scalar(text("SELECT count(*) FROM task WHERE name LIKE 'extra %'"))
    assert survivors == 0
