"""A restore writes only the rows that differ from the snapshot's (services/state_diff.py): the
result is still exactly the snapshot's rows, after changes made through the API, behind its
back, to a parent whose children did not change, and after a restore from the cache."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.services import state_diff
from tests.support.snapshots import (
    assert_same_rows,
    call,
    change_everything,
    state,
    state_of,
    team_path,
)

__all__ = ["state"]  # the fixture


def snapshot(client: FlaskClient, seed: dict[str, Any]) -> str:
    made: str = call(client, seed, "POST", team_path(seed, "/snapshots"), 201, json={})[
        "payload"]["id"]
    return made


def restore(client: FlaskClient, seed: dict[str, Any], snap: str) -> None:
    call(client, seed, "POST", team_path(seed, f"/snapshots/{snap}/restore"), 200)


def count_inserts(engine: Engine, *tables: str) -> None:
    """From now on `inserted` counts the rows inserted into `tables` (a trigger each)."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS inserted (at TEXT NOT NULL, id TEXT)"))
        for table in tables:
            conn.execute(text(f"CREATE TRIGGER count_{table} AFTER INSERT ON {table} "
                              f"BEGIN INSERT INTO inserted VALUES ('{table}', NEW.id); END"))


def inserted(engine: Engine) -> list[tuple[str, str]]:
    with engine.begin() as conn:
        rows = [tuple(row) for row in conn.execute(text("SELECT at, id FROM inserted"))]
        conn.execute(text("DELETE FROM inserted"))
    return rows


def sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the comparison runs on SQLite (PostgreSQL restores every row)")


def test_restores_from_the_cache_are_exact_and_leave_unchanged_rows_where_they_are(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    sqlite_only(engine)
    before = state_of(engine, seed["team_id"])
    other_before = state_of(engine, seed["other"]["team_id"])
    snap = snapshot(client, seed)
    for _round in range(2):  # the first prepares the snapshot's rows, the second reuses them
        change_everything(client, seed)
        restore(client, seed, snap)
        assert_same_rows(before, state_of(engine, seed["team_id"]))
    assert any(key[0] == snap for key in state_diff._cache)
    count_inserts(engine, "task", "page", "annotation")
    changed = seed["tasks"]["REVIEWING"][0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE task SET name = 'renamed' WHERE id = :t"), {"t": changed})
        pages = list(conn.scalars(text("SELECT id FROM page WHERE task_id = :t"),
                                  {"t": changed}))
    restore(client, seed, snap)
    assert_same_rows(before, state_of(engine, seed["team_id"]))
    assert_same_rows(other_before, state_of(engine, seed["other"]["team_id"]))
    written = inserted(engine)
    # The task written again, and its pages and annotations with it (a cascade took them).
    assert ("task", changed) in written and {("page", p) for p in pages} <= set(written)
    assert [row for at, row in written if at == "task"] == [changed]


def test_a_restore_with_nothing_changed_writes_no_row(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    sqlite_only(engine)
    snap = snapshot(client, seed)
    restore(client, seed, snap)
    count_inserts(engine, "task", "page", "annotation")
    restore(client, seed, snap)
    assert inserted(engine) == []


def test_changes_behind_the_apis_back_are_put_back(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    before = state_of(engine, seed["team_id"])
    snap = snapshot(client, seed)
    restore(client, seed, snap)
    with engine.begin() as conn:
        conn.execute(text("UPDATE annotation SET content = 'forged' WHERE id IN "
                          "(SELECT id FROM annotation LIMIT 2)"))
        page = conn.scalar(text("SELECT p.id FROM page p JOIN task t ON t.id = p.task_id "
                                "WHERE t.project_id = :p LIMIT 1"), {"p": seed["project_id"]})
        conn.execute(text("DELETE FROM page WHERE id = :p"), {"p": page})  # its annotations too
        conn.execute(text("DELETE FROM folder WHERE project_id = :p AND NOT system"),
                     {"p": seed["project_id"]})  # its uploads' folder_id becomes NULL
    assert state_of(engine, seed["team_id"]) != before
    restore(client, seed, snap)
    assert_same_rows(before, state_of(engine, seed["team_id"]))


def test_a_changed_parent_brings_back_its_unchanged_children(
    client: FlaskClient, engine: Engine, seed: dict[str, Any], state: dict[str, Any],
) -> None:
    """A task written again takes its pages and events with it (a cascade): they are written
    again too, not left deleted."""
    before = state_of(engine, seed["team_id"])
    snap = snapshot(client, seed)
    restore(client, seed, snap)
    task_id = state["task"]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM task WHERE id = :t"), {"t": task_id})
    restore(client, seed, snap)
    assert_same_rows(before, state_of(engine, seed["team_id"]))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM page WHERE task_id = :t"),
                           {"t": task_id}) == len([r for r in before["page"][1]
                                                   if task_id in r])
