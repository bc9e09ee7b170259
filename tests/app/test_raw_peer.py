"""The bench's raw-driver peer (bench/raw_app.py) answers as the server does, and the bench's
counters (bench/counting.py) count what they claim. SQLite always; PostgreSQL too when
TEST_DATABASE_URL is set."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

from bench import counting, raw_app
from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.keys import KEY_LOOKUP
from sendai_server.services.task_reads import (
    ONE_TASK_CHILDREN_ORDERED,
    TASK_ROW,
    TASK_ROW_FOR_UPDATE,
)
from sendai_server.services.tasks import INSERT_EVENT, update_task_statement
from sendai_server.services.upload_status import SETTLE_UPLOAD
from sendai_server.store.models import Task, TaskEvent
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support.helpers import auth, task_path

# The statements the server runs on the driver (sendai_server/store/statements.py).
_SERVER_STATEMENTS = {
    "key_lookup": KEY_LOOKUP, "task_row": TASK_ROW, "task_row_for_update": TASK_ROW_FOR_UPDATE,
    "children": ONE_TASK_CHILDREN_ORDERED,
    "update_task": update_task_statement(frozenset({"status", "last_opened_at"})),
    "insert_event": INSERT_EVENT,
    "settle_upload": SETTLE_UPLOAD,
}


@pytest.fixture
def raw(database_url: str) -> Iterator[Flask]:
    app = raw_app.create_app(database_url)
    yield app
    app.extensions["raw_backend"].close()


@pytest.fixture
def raw_client(raw: Flask) -> FlaskClient:
    return raw.test_client()


def _ordered(body: bytes) -> Any:
    """A JSON document with every object as its list of (key, value) pairs, in order."""
    return json.loads(body, object_pairs_hook=list)


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    assert body["request_id"].startswith("req_")
    return {**body, "request_id": None}


# --- the same statements --------------------------------------------------------------------

@pytest.mark.parametrize("dialect, texts", [
    (sqlite.dialect(), raw_app.SQLITE_SQL), (pg_psycopg.dialect(), raw_app.POSTGRES_SQL),
], ids=["sqlite", "postgresql"])
def test_raw_app_runs_the_servers_statements(dialect: Any, texts: dict[str, str]) -> None:
    assert set(texts) == set(_SERVER_STATEMENTS)
    for name, statement in _SERVER_STATEMENTS.items():
        assert texts[name] == str(statement.statement.compile(dialect=dialect)), name


# --- the same answers -----------------------------------------------------------------------

def test_get_answers_the_servers_body(client: FlaskClient, raw_client: FlaskClient,
                                      seed: dict[str, Any]) -> None:
    headers = auth(seed["keys"]["read"])
    task_ids = [task_id for ids in seed["tasks"].values() for task_id in ids]
    assert len(task_ids) >= 8
    for task_id in task_ids:
        ours = client.get(task_path(seed, task_id), headers=headers)
        theirs = raw_client.get(task_path(seed, task_id), headers=headers)
        assert (theirs.status_code, theirs.mimetype) == (ours.status_code, "application/json")
        assert theirs.get_json() == ours.get_json()
        # In the same field order, all the way down.
        assert _ordered(theirs.get_data()) == _ordered(ours.get_data())


def test_discard_answers_and_audits_as_the_server_does(
    client: FlaskClient, raw_client: FlaskClient, seed: dict[str, Any], engine: Engine,
) -> None:
    headers = auth(seed["keys"]["edit"])
    by_server, by_raw = seed["tasks"]["REVIEWING"][:2]
    ours = client.post(task_path(seed, by_server, "discard"), headers=headers)
    theirs = raw_client.post(task_path(seed, by_raw, "discard"), headers=headers)
    assert ours.status_code == theirs.status_code == 200
    ours_task, theirs_task = ours.get_json()["payload"], theirs.get_json()["payload"]
    assert list(theirs_task) == list(ours_task)
    assert theirs_task["status"] == "DISCARDED"
    assert theirs_task["last_opened_at"] is not None
    # The body is the task as the server itself now reads it.
    after = client.get(task_path(seed, by_raw), headers=headers)
    assert after.get_json() == theirs.get_json()

    with engine.connect() as conn:
        events = {
            row.task_id: row for row in conn.execute(
                select(*TaskEvent.__table__.c).where(TaskEvent.task_id.in_([by_server, by_raw]),
                                        TaskEvent.action == "discard")
            )
        }
        # JSON null in both (the server's JSON column stores None so), not SQL NULL.
        sql_nulls: dict[str, bool] = dict(conn.exec_driver_sql(
            "SELECT task_id, details IS NULL FROM task_event WHERE action = 'discard'"
        ).all())
        opened = dict(conn.execute(
            select(Task.id, Task.last_opened_at).where(Task.id.in_([by_server, by_raw]))
        ).all())
    fields = ("action", "from_status", "to_status", "approved", "key_id", "details")
    assert [getattr(events[by_raw], f) for f in fields] == \
        [getattr(events[by_server], f) for f in fields] == \
        ["discard", "REVIEWING", "DISCARDED", False, events[by_server].key_id, None]
    assert sql_nulls == {by_server: False, by_raw: False}
    assert events[by_raw].request_id is None
    assert events[by_raw].id.startswith("evt_")
    assert events[by_raw].created_at == opened[by_raw]
    stamp = opened[by_raw]
    assert stamp is not None
    assert stamp.strftime("%Y-%m-%dT%H:%M:%SZ") == theirs_task["last_opened_at"]


def test_refusals_answer_as_the_server_does(
    client: FlaskClient, raw_client: FlaskClient, seed: dict[str, Any], engine: Engine,
) -> None:
    edit, read = auth(seed["keys"]["edit"]), auth(seed["keys"]["read"])
    done = seed["tasks"]["COMPLETED"][0]
    with engine.connect() as conn:
        events_before = len(conn.execute(select(TaskEvent.seq)).all())
    cases = [
        ("post", task_path(seed, done, "discard"), edit, 400),
        ("get", task_path(seed, "task_nothere"), read, 404),
        ("post", task_path(seed, "task_nothere", "discard"), edit, 404),
        ("get", task_path(seed, seed["other"]["task_id"]), read, 404),
        ("get", task_path(seed, done), auth("sk_" + "x" * 43), 401),
        ("get", task_path(seed, done), auth(seed["keys"]["revoked"]), 401),
        ("get", task_path(seed, done), {}, 401),
        ("post", task_path(seed, done, "discard"), read, 403),
    ]
    for method, path, headers, status in cases:
        ours = getattr(client, method)(path, headers=headers)
        theirs = getattr(raw_client, method)(path, headers=headers)
        assert ours.status_code == theirs.status_code == status, path
        assert _without_request_id(theirs.get_json()) == _without_request_id(ours.get_json())
        assert theirs.headers.get("WWW-Authenticate") == ours.headers.get("WWW-Authenticate")
    with engine.connect() as conn:
        assert len(conn.execute(select(TaskEvent.seq)).all()) == events_before


# --- the counters ---------------------------------------------------------------------------

def test_classify() -> None:
    kinds = {sql: counting.classify(sql) for sql in (
        "BEGIN", "BEGIN IMMEDIATE", "begin", "COMMIT", "ROLLBACK", ";", "SELECT 1", " ",
        "ROLLBACK TO SAVEPOINT sa_1", "SELECT task.id FROM task", "UPDATE task SET x=1", None,
    )}
    assert kinds == {
        "BEGIN": "begin", "BEGIN IMMEDIATE": "begin", "begin": "begin", "COMMIT": "commit",
        "ROLLBACK": "rollback", ";": "ping", "SELECT 1": "ping", " ": "ping",
        "ROLLBACK TO SAVEPOINT sa_1": "statement", "SELECT task.id FROM task": "statement",
        "UPDATE task SET x=1": "statement", None: "prepare",
    }


def test_sqlite_trace_counts_every_statement_the_driver_runs(
    backend: str, engine: Engine,
) -> None:
    if backend != "sqlite":
        pytest.skip("the trace callback is sqlite3's")
    tally = counting.RoundTrips()
    counting.trace_sqlite(engine, tally)
    with UnitOfWork(engine) as uow, uow.write() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM task").all()
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("SELECT count(*) FROM page").fetchall()
    assert [kind for kind, _ in tally.log] == ["begin", "statement", "statement", "commit"]
    assert tally.log[0][1] == "BEGIN IMMEDIATE"
    assert tally.log[2][1] == "SELECT count(*) FROM page"  # one SQLAlchemy never saw
    assert tally.counts() == {"round_trips": 4, "statements": 2, "statement": 2, "begin": 1,
                              "commit": 1, "rollback": 0, "ping": 0, "prepare": 0}


def test_postgres_proxy_counts_round_trips(backend: str, database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("the proxy speaks PostgreSQL's protocol")
    with counting.PostgresProxy.for_url(database_url) as proxy:
        # psycopg asks for SSL first (sslmode=prefer): the proxy declines, then counts.
        with psycopg.connect(proxy.url(database_url), sslmode="prefer") as conn:
            proxy.tally.reset()
            conn.execute("SELECT %s::int + 1", (1,)).fetchall()  # BEGIN, then the statement
            conn.execute("SELECT 2").fetchall()  # no parameters: a simple query
            conn.commit()
            conn.autocommit = True
            conn.execute("SELECT %s::int", (3,), prepare=True).fetchall()  # Parse, then Bind
            conn.execute(";")
        kinds = [kind for kind, _ in proxy.tally.log]
    assert kinds == ["begin", "statement", "statement", "commit", "prepare", "statement", "ping"]
    assert proxy.tally.counts()["statements"] == 3


@pytest.fixture
def measured(database_url: str, backend: str) -> Iterator[dict[str, Any]]:
    """The server and raw_app in-process on this database, with their round trips counted
    (through a counting proxy on PostgreSQL)."""
    tally = counting.RoundTrips()
    proxy = counting.PostgresProxy.for_url(database_url, tally) if backend != "sqlite" else None
    url = proxy.url(database_url) if proxy is not None else database_url
    server = create_app(Config(env="test", database_url=url, log_level="WARNING"))
    engine = engine_of(server)
    raw = raw_app.create_app(url)
    if proxy is None:
        counting.trace_sqlite(engine, tally)
        raw.extensions["raw_backend"].connect_hooks.append(
            lambda conn: counting.trace_sqlite_connection(conn, tally))
    yield {"tally": tally, "checkouts": counting.Checkouts(engine),
           "server": server.test_client(), "raw": raw.test_client()}
    raw.extensions["raw_backend"].close()
    engine.dispose()
    if proxy is not None:
        proxy.close()


def test_server_requests_are_counted_at_the_driver(
    measured: dict[str, Any], seed: dict[str, Any], backend: str,
) -> None:
    tally, checkouts, client = measured["tally"], measured["checkouts"], measured["server"]
    headers = auth(seed["keys"]["edit"])
    task_id = seed["tasks"]["REVIEWING"][0]
    client.get(task_path(seed, task_id), headers=headers)  # records the key's use
    with counting.measuring(tally, checkouts) as got:
        assert client.get(task_path(seed, task_id), headers=headers).status_code == 200
    # key, task row, children: lone reads, no BEGIN, no ROLLBACK, no ping; one connection
    assert got == {"checkouts": 1, "round_trips": 3, "statements": 3, "statement": 3,
                   "begin": 0, "commit": 0, "rollback": 0, "ping": 0, "prepare": 0}


def test_raw_app_round_trips(measured: dict[str, Any], seed: dict[str, Any]) -> None:
    tally, client = measured["tally"], measured["raw"]
    headers = auth(seed["keys"]["edit"])
    first, second, third = seed["tasks"]["REVIEWING"][:3]
    # psycopg prepares each statement on its first use: one Parse round trip, once.
    client.get(task_path(seed, first), headers=headers)
    client.post(task_path(seed, first, "discard"), headers=headers)
    with counting.measuring(tally) as get:
        assert client.get(task_path(seed, second), headers=headers).status_code == 200
    with counting.measuring(tally) as discard:
        assert client.post(task_path(seed, third, "discard"), headers=headers).status_code == 200
    assert get == {"round_trips": 3, "statements": 3, "statement": 3, "begin": 0, "commit": 0,
                   "rollback": 0, "ping": 0, "prepare": 0}
    assert discard == {"round_trips": 8, "statements": 6, "statement": 6, "begin": 1,
                       "commit": 1, "rollback": 0, "ping": 0, "prepare": 0}
