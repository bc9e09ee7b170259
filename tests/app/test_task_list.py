"""GET .../task (docs/api/tasks.md): filters, sort, keyset pagination with signed tokens, bad
parameters, a constant number of SQL statements per page, and a walk that stays exact while
tasks are being added."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from sqlalchemy import Engine, select, text, update

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.services.demo import EXAMPLE_TASK
from sendai_server.services.task_creation import TaskSpec, create_tasks, synthetic_pages
from sendai_server.store.db import make_engine
from sendai_server.store.models import Task
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from tests.support.db_trace import Trace, trace_database
from tests.support.factories import make_task
from tests.support.helpers import auth


def list_path(seed: dict[str, Any], query: str = "") -> str:
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task"
    return f"{path}?{query}" if query else path


def get_list(client: FlaskClient, seed: dict[str, Any], query: str = "",
             key: str = "read") -> Any:
    return client.get(list_path(seed, query), headers=auth(seed["keys"][key]))


def assert_ordered(engine: Engine, tasks: list[dict[str, Any]], descending: bool) -> None:
    """In (created_at, id) order, by the stored created_at: the API shows it to the second."""
    with engine.connect() as conn:
        stored = {row.id: row.created_at for row in conn.execute(select(Task.id, Task.created_at))}
    keys = [(stored[t["id"]], t["id"]) for t in tasks]
    assert keys == sorted(keys, reverse=descending)


def walk(client: FlaskClient, seed: dict[str, Any], query: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    token = None
    while True:
        q = query + (f"&token={token}" if token else "")
        body = get_list(client, seed, q).get_json()
        tasks += body["payload"]
        if not body["more"]:
            assert body["paginationToken"] is None
            return tasks
        token = body["paginationToken"]
        assert token


@pytest.fixture
def project_with_tasks(seed: dict[str, Any], uow: UnitOfWork) -> dict[str, Any]:
    """The seed's 8 tasks plus 12 more, some approved."""
    for n in range(12):
        make_task(uow, seed["project_id"], ["REVIEWING", "COMPLETED", "FAILED"][n % 3],
                  approved=n % 4 == 0, pages=0, name=f"Extra {n}")
    return seed


def test_list_answers_newest_first_with_count_more_and_token(
    client: FlaskClient, project_with_tasks: dict[str, Any], engine: Engine
) -> None:
    response = get_list(client, project_with_tasks)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["payload", "count", "more", "paginationToken"]
    assert body["count"] == 20 and len(body["payload"]) == 20
    assert body["more"] is False and body["paginationToken"] is None
    assert_ordered(engine, body["payload"], descending=True)
    assert body["payload"][-1]["name"] == "Document Analysis Task"  # the oldest
    assert body["payload"][-1]["pages"][0]["checkboxes"][0]["checked"] is True


def test_list_default_limit_is_20(
    client: FlaskClient, project_with_tasks: dict[str, Any], uow: UnitOfWork
) -> None:
    make_task(uow, project_with_tasks["project_id"], pages=0)
    body = get_list(client, project_with_tasks).get_json()
    assert len(body["payload"]) == 20 and body["count"] == 21 and body["more"] is True


@pytest.mark.parametrize("sort", ["created_at:asc", "created_at:desc"])
@pytest.mark.parametrize("limit", [1, 3, 7, 20, 100])
def test_pages_cover_every_task_once_in_order(
    client: FlaskClient, project_with_tasks: dict[str, Any], engine: Engine, sort: str,
    limit: int,
) -> None:
    tasks = walk(client, project_with_tasks, f"sort={sort}&limit={limit}")
    ids = [t["id"] for t in tasks]
    assert len(ids) == len(set(ids)) == 20
    assert_ordered(engine, tasks, descending=sort.endswith("desc"))


def test_ties_in_created_at_are_ordered_by_id(
    client: FlaskClient, project_with_tasks: dict[str, Any], engine: Engine
) -> None:
    with engine.begin() as conn:  # through the model's column type, as the server writes it
        conn.execute(update(Task).where(Task.project_id == project_with_tasks["project_id"])
                     .values(created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    for sort, reverse in (("created_at:asc", False), ("created_at:desc", True)):
        ids = [t["id"] for t in walk(client, project_with_tasks, f"sort={sort}&limit=3")]
        assert ids == sorted(ids, reverse=reverse) and len(ids) == 20


@pytest.mark.parametrize("query, expected", [
    ("status=REVIEWING", {"REVIEWING"}),
    ("status=REVIEWING&status=FAILED", {"REVIEWING", "FAILED"}),
    ("status=DISCARDED", {"DISCARDED"}),
])
def test_status_filter_repeats(
    client: FlaskClient, project_with_tasks: dict[str, Any], query: str, expected: set[str]
) -> None:
    body = get_list(client, project_with_tasks, query + "&limit=100").get_json()
    assert {t["status"] for t in body["payload"]} == expected
    assert body["count"] == len(body["payload"])


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False)])
def test_approved_filter(
    client: FlaskClient, project_with_tasks: dict[str, Any], value: str, expected: bool
) -> None:
    body = get_list(client, project_with_tasks, f"approved={value}&limit=100").get_json()
    assert body["payload"] and {t["approved"] for t in body["payload"]} == {expected}
    assert body["count"] == (3 if expected else 17)


def test_filters_and_pages_combine(
    client: FlaskClient, project_with_tasks: dict[str, Any]
) -> None:
    tasks = walk(client, project_with_tasks, "status=REVIEWING&status=COMPLETED&approved=false"
                                            "&limit=2&sort=created_at:asc")
    assert tasks and all(t["status"] in ("REVIEWING", "COMPLETED") and not t["approved"]
                         for t in tasks)
    total = get_list(client, project_with_tasks, "status=REVIEWING&status=COMPLETED"
                                                 "&approved=false").get_json()["count"]
    assert len(tasks) == total


def test_list_never_shows_another_projects_tasks(
    client: FlaskClient, project_with_tasks: dict[str, Any]
) -> None:
    ids = {t["id"] for t in walk(client, project_with_tasks, "limit=100")}
    assert project_with_tasks["other"]["task_id"] not in ids


# --- bad parameters -----------------------------------------------------------------------------

BAD_PARAMS = [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=-1", "limit"), ("limit=abc", "limit"),
    ("limit=1.5", "limit"), ("limit=", "limit"), ("status=NOPE", "status"),
    ("status=reviewing", "status"), ("status=REVIEWING&status=", "status"),
    ("approved=yes", "approved"), ("approved=1", "approved"), ("approved=", "approved"),
    ("sort=name:asc", "sort"), ("sort=created_at", "sort"), ("sort=", "sort"),
    ("token=", "token"), ("token=garbage", "token"), ("token=" + "a" * 3000, "token"),
]


@pytest.mark.parametrize("query, field", BAD_PARAMS)
def test_bad_parameters_are_400_validation_error_naming_the_field(
    client: FlaskClient, seed: dict[str, Any], query: str, field: str
) -> None:
    response = get_list(client, seed, query)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["details"]["fields"]


def test_list_needs_task_read(client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork) -> None:
    from sendai_server.services.keys import create_key

    key = create_key(uow, seed["team_id"], ["task.edit"], [seed["project_id"]]).key
    response = client.get(list_path(seed, "limit=0"), headers=auth(key))
    assert response.status_code == 403  # scope before the query's validation


def test_list_of_other_teams_project_is_404(client: FlaskClient, seed: dict[str, Any]) -> None:
    other = seed["other"]
    response = client.get(f"/v2/{other['team_id']}/project/{other['project_id']}/task",
                          headers=auth(seed["keys"]["read"]))
    assert response.status_code == 404


# --- tokens -------------------------------------------------------------------------------------

def first_token(client: FlaskClient, seed: dict[str, Any], query: str = "limit=2") -> str:
    token = get_list(client, seed, query).get_json()["paginationToken"]
    assert token
    return str(token)


@pytest.mark.parametrize("next_query", [
    "limit=2&status=REVIEWING", "limit=2&approved=true", "limit=2&sort=created_at:asc",
    "limit=2&status=FAILED&status=REVIEWING",
])
def test_token_used_with_other_filters_or_sort_is_400(
    client: FlaskClient, project_with_tasks: dict[str, Any], next_query: str
) -> None:
    token = first_token(client, project_with_tasks)
    response = get_list(client, project_with_tasks, f"{next_query}&token={token}")
    assert response.status_code == 400
    assert "token" in response.get_json()["error"]["details"]["fields"]


def test_token_may_change_limit_and_status_order(
    client: FlaskClient, project_with_tasks: dict[str, Any]
) -> None:
    token = first_token(client, project_with_tasks, "limit=2&status=FAILED&status=REVIEWING")
    response = get_list(client, project_with_tasks,
                        f"limit=5&status=REVIEWING&status=FAILED&token={token}")
    assert response.status_code == 200


def test_token_of_one_project_is_refused_in_another(
    client: FlaskClient, project_with_tasks: dict[str, Any], uow: UnitOfWork
) -> None:
    other = project_with_tasks["other"]
    for n in range(3):
        make_task(uow, other["project_id"], pages=0, name=f"other {n}")
    own = first_token(client, project_with_tasks)
    response = client.get(f"/v2/{other['team_id']}/project/{other['project_id']}/task"
                          f"?limit=2&token={own}", headers=auth(other["key"]))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


def _forge(token: str, change: Any) -> str:
    """The token's document, changed, with the original signature kept."""
    serializer = URLSafeSerializer("any", salt="sendai.task-list.v1")
    document = serializer.loads_unsafe(token)[1]
    change(document)
    payload = serializer.dumps(document).rsplit(".", 1)[0]
    return payload + "." + token.rsplit(".", 1)[1]


@pytest.mark.parametrize("tamper", [
    # (not the last character: its low bits may be base64 padding, and change nothing)
    lambda t: t[:-5] + ("A" if t[-5] != "A" else "B") + t[-4:],
    lambda t: t[1:],
    lambda t: t + "x",
    lambda t: t.rsplit(".", 1)[0],
    lambda t: "." + t,
    lambda t: _forge(t, lambda d: d["b"].__setitem__(1, "proj_someoneelse000000")),
    lambda t: _forge(t, lambda d: d["a"].__setitem__(1, "task_zzzzzzzzzzzzzzzzzzzz")),
    lambda t: _forge(t, lambda d: d.__setitem__("a", ["not a date", "x"])),
    lambda t: "%00" + t,
], ids=["signature-char", "first-char", "appended", "no-signature", "leading-dot", "other-project",
        "moved-cursor", "bad-date", "nul"])
def test_altered_or_forged_tokens_are_400_never_500(
    client: FlaskClient, project_with_tasks: dict[str, Any], tamper: Any
) -> None:
    token = first_token(client, project_with_tasks)
    response = get_list(client, project_with_tasks, f"limit=2&token={tamper(token)}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


def test_token_signed_with_another_secret_is_refused(
    client: FlaskClient, project_with_tasks: dict[str, Any]
) -> None:
    token = first_token(client, project_with_tasks)
    document = URLSafeSerializer("x" * 32, salt="sendai.task-list.v1").loads_unsafe(token)[1]
    forged = URLSafeSerializer("another secret", salt="sendai.task-list.v1").dumps(document)
    response = get_list(client, project_with_tasks, f"limit=2&token={forged}")
    assert response.status_code == 400


def test_token_works_on_every_app_sharing_the_database(
    config: Config, project_with_tasks: dict[str, Any], client: FlaskClient
) -> None:
    token = first_token(client, project_with_tasks)
    other_worker = create_app(config)
    try:
        response = get_list(other_worker.test_client(), project_with_tasks,
                            f"limit=2&token={token}")
        assert response.status_code == 200 and response.get_json()["payload"]
    finally:
        engine_of(other_worker).dispose()


def test_configured_secret_key_signs_tokens(
    config: Config, project_with_tasks: dict[str, Any], client: FlaskClient
) -> None:
    configured = create_app(config.with_overrides(secret_key="s3cret-shared-by-all-hosts"))
    try:
        token = first_token(configured.test_client(), project_with_tasks)
        URLSafeSerializer("s3cret-shared-by-all-hosts", salt="sendai.task-list.v1").loads(token)
        # an app on the database's own secret does not accept it
        assert get_list(client, project_with_tasks, f"limit=2&token={token}").status_code == 400
    finally:
        engine_of(configured).dispose()


def test_database_secret_is_made_once(
    client: FlaskClient, project_with_tasks: dict[str, Any], engine: Engine
) -> None:
    first_token(client, project_with_tasks)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, value FROM server_secret")).all()
    assert len(rows) == 1 and len(rows[0].value) >= 48


# --- a constant number of statements per page ---------------------------------------------------

def _specs(count: int) -> list[TaskSpec]:
    """Tasks of very different sizes: none to many pages, each kind of page item."""
    import random

    rng = random.Random(1)
    example = EXAMPLE_TASK["pages"][0]
    return [
        TaskSpec(name=f"Sized {n}", meta=[{"name": "n", "value": str(n)}] * (n % 3),
                 pages=[example] * (n % 4) + synthetic_pages(n % 6, (n * 7) % 40, rng))
        for n in range(count)
    ]


@pytest.fixture
def statements(engine: Engine) -> Iterator[Trace]:
    with trace_database(engine) as trace:
        yield trace


@pytest.mark.slow  # 100 tasks of many pages each, traced: about 5 s
def test_a_page_takes_the_same_number_of_statements_for_1_or_100_tasks_of_any_size(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, statements: Trace
) -> None:
    create_tasks(uow, seed["project_id"], _specs(120))
    get_list(client, seed, "limit=1")  # warm up: the signing secret, the key's last use
    counts = {}
    for query in ("limit=1", "limit=100", "limit=100&sort=created_at:asc",
                  "limit=37&status=REVIEWING"):
        statements.clear()
        body = get_list(client, seed, query).get_json()
        assert body["payload"]
        counts[query] = (len(statements.statements), statements.checkouts)
    token = first_token(client, seed, "limit=100")
    statements.clear()
    get_list(client, seed, f"limit=100&token={token}")
    counts["second page"] = (len(statements.statements), statements.checkouts)
    assert len(set(counts.values())) == 1, counts
    # key, count, tasks, and meta+pages+items in one UNION; no BEGIN: lone reads; one checkout
    assert counts["second page"] == (4, 1), statements.round_trips


def test_get_task_takes_the_same_statements_for_a_small_or_a_huge_task(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, statements: Trace
) -> None:
    rng = __import__("random").Random(2)
    [small, huge] = create_tasks(uow, seed["project_id"], [
        TaskSpec(name="small"),
        TaskSpec(name="huge", pages=EXAMPLE_TASK["pages"] * 300 + synthetic_pages(300, 3, rng)),
    ])
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
    client.get(base + small, headers=auth(seed["keys"]["read"]))
    counts = []
    for task_id in (small, huge):
        statements.clear()
        response = client.get(base + task_id, headers=auth(seed["keys"]["read"]))
        assert response.status_code == 200
        counts.append(len(statements.statements))
    assert counts[0] == counts[1]
    assert len(response.get_json()["payload"]["pages"]) == 600


# --- walking while tasks are added --------------------------------------------------------------

@pytest.mark.slow  # 1,000 tasks walked while more are added: about 5 s each
@pytest.mark.parametrize("sort", ["created_at:desc", "created_at:asc"])
def test_walk_of_1000_tasks_in_pages_of_7_has_no_duplicate_or_gap_while_tasks_are_added(
    client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine,
    database_url: str, sort: str,
) -> None:
    original = set(create_tasks(uow, seed["project_id"],
                                [TaskSpec(name=f"Walk {n}") for n in range(1000 - 8)]))
    original |= {t for ids in seed["tasks"].values() for t in ids}
    assert len(original) == 1000

    added: list[str] = []
    stop = threading.Event()

    def add_tasks() -> None:
        writer = make_engine(database_url)
        try:
            while not stop.is_set() and len(added) < 400:
                with UnitOfWork(writer) as s:
                    added.extend(create_tasks(s, seed["project_id"],
                                              [TaskSpec(name="Added"), TaskSpec(name="Added")]))
        finally:
            writer.dispose()

    thread = threading.Thread(target=add_tasks)
    thread.start()
    try:
        tasks = walk(client, seed, f"limit=7&sort={sort}")
    finally:
        stop.set()
        thread.join()
    ids = [t["id"] for t in tasks]
    assert len(ids) == len(set(ids)), "a task was listed twice"
    assert original <= set(ids), f"{len(original - set(ids))} tasks were skipped"
    assert set(ids) <= original | set(added)
    assert added, "the writer added nothing while the list was walked"
    assert_ordered(engine, tasks, descending=sort.endswith("desc"))


@pytest.mark.parametrize("document", [
    {"b": "BINDING"},
    {"b": "BINDING", "a": "2024-01-01T00:00:00+00:00"},
    {"b": "BINDING", "a": ["2024-01-01T00:00:00", "task_x"]},  # no time zone
    {"b": "BINDING", "a": ["yesterday", "task_x"]},
    {"b": "BINDING", "a": [5, "task_x"]},
    {"b": "BINDING", "a": ["2024-01-01T00:00:00+00:00", "task_x", "extra"]},
    ["not", "an", "object"],
    "a string",
], ids=["no-cursor", "cursor-not-a-pair", "naive-date", "not-a-date", "number-date",
        "triple", "list", "string"])
def test_validly_signed_but_malformed_tokens_are_400_never_500(
    client: FlaskClient, project_with_tasks: dict[str, Any], engine: Engine, document: Any
) -> None:
    token = first_token(client, project_with_tasks)  # makes the database's secret
    with engine.connect() as conn:
        secret = conn.execute(text("SELECT value FROM server_secret")).scalar_one()
    serializer = URLSafeSerializer(secret, salt="sendai.task-list.v1")
    binding = serializer.loads(token)["b"]
    if isinstance(document, dict):
        document = {**document, "b": binding}
    forged = serializer.dumps(document)
    response = get_list(client, project_with_tasks, f"limit=2&token={forged}")
    assert response.status_code == 400
    assert "token" in response.get_json()["error"]["details"]["fields"]
