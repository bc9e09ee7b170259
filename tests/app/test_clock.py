"""A team's clock (docs/clock.md) in-process, on SQLite and PostgreSQL: freeze, read, advance,
resume over the API; workers (the worker's own claim, `drain`) leave a frozen team's jobs
alone; an advance runs them at their own moments, deliveries over real HTTP to a receiver."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.pipeline import deliveries
from sendai_server.services import team_clock
from sendai_server.services.keys import create_key
from sendai_server.services.projects import create_team
from sendai_server.store import jobs
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.helpers import auth
from tests.support.pipeline import Project, drain

START = "2030-01-01T09:00:00Z"
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.path = f"/v2/{project.team_id}/test_helpers/clock"

    def call(self, method: str, rest: str = "", **kwargs: Any) -> Any:
        return self.project.client.open(self.path + rest, method=method,
                                        headers=auth(self.project.key), **kwargs)

    def freeze(self, at: str | None = START) -> dict[str, Any]:
        response = self.call("POST", json={} if at is None else {"frozen_at": at})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["payload"]  # type: ignore[no-any-return]

    def advance(self, **body: Any) -> dict[str, Any]:
        response = self.call("POST", "/advance", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["payload"]  # type: ignore[no-any-return]

    def show(self) -> Any:
        return self.call("GET")


@pytest.fixture
def project(client: FlaskClient, uow: UnitOfWork, seed: dict[str, Any]) -> Project:
    return Project(client, uow, seed, delay=2.0)


@pytest.fixture
def clock(project: Project) -> Clock:
    return Clock(project)


def connect(project: Project, url: str, **fields: Any) -> dict[str, Any]:
    response = project.post("/test_helpers/connectors", json={
        "url": url, "events": ["upload.in_review", "upload.processed"], **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["payload"]  # type: ignore[no-any-return]


def notifications(project: Project) -> list[dict[str, Any]]:
    response = project.client.get(project.path("/notifications"), headers=auth(project.key))
    return response.get_json()["payload"]  # type: ignore[no-any-return]


# --- freeze, read, resume -------------------------------------------------------------------

def test_a_frozen_clock_reads_back_and_resume_returns_the_team_to_real_time(
    clock: Clock,
) -> None:
    assert clock.show().status_code == 404
    frozen = clock.freeze()
    assert frozen == {"team_id": clock.project.team_id, "now": START, "frozen_at": START,
                      "advanced_seconds": 0.0, "pending": []}
    assert clock.show().get_json()["payload"] == frozen
    resumed = clock.call("DELETE")
    assert (resumed.status_code, resumed.data) == (204, b"")
    assert clock.show().get_json()["error"]["code"] == "not_found"
    assert clock.call("DELETE").status_code == 404


def test_freeze_without_a_time_stops_at_the_real_now(clock: Clock) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    now = datetime.fromisoformat(clock.freeze(None)["now"].replace("Z", "+00:00"))
    assert before <= now <= datetime.now(UTC)


def test_advance_and_resume_of_a_team_on_real_time_are_not_found(clock: Clock) -> None:
    assert clock.call("POST", "/advance", json={"seconds": 1}).status_code == 404


@pytest.mark.parametrize("body,field", [
    ({"seconds": -1}, "seconds"),
    ({"seconds": 366 * 86400 + 1}, "seconds"),
    ({"seconds": "soon"}, "seconds"),
    ({"seconds": True}, "seconds"),
    ({"to": "2029-12-31T23:59:59Z"}, "to"),
    ({"to": "2031-01-02T09:00:01Z"}, "to"),
    ({"to": "next tuesday"}, "to"),
    ({"to": 12}, "to"),
    ({"seconds": 1, "to": "2030-01-01T10:00:00Z"}, "seconds"),
    ({}, "seconds"),
    ({"minutes": 5}, "minutes"),
])
def test_a_bad_advance_is_400_naming_the_field_and_changes_nothing(
    clock: Clock, project: Project, engine: Engine, body: dict[str, Any], field: str,
) -> None:
    clock.freeze()
    project.upload((documents.invoice_pdf(), "a.pdf"))
    before = clock.show().get_json()
    response = clock.call("POST", "/advance", json=body)
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, "validation_error"), error
    assert field in error["details"]["fields"], error
    assert clock.show().get_json() == before


@pytest.mark.parametrize("frozen_at", ["yesterday", "0001-01-01T00:00:00Z", 5])
def test_a_bad_freeze_is_400_naming_the_field(clock: Clock, frozen_at: Any) -> None:
    response = clock.call("POST", json={"frozen_at": frozen_at})
    error = response.get_json()["error"]
    assert (response.status_code, error["code"]) == (400, "validation_error")
    assert "frozen_at" in error["details"]["fields"]
    assert clock.show().status_code == 404


def test_the_clock_is_the_key_s_team_s_only(
    client: FlaskClient, seed: dict[str, Any], clock: Clock,
) -> None:
    clock.freeze()
    other = seed["other"]["team_id"]
    response = client.get(f"/v2/{other}/test_helpers/clock", headers=auth(clock.project.key))
    assert response.status_code == 404


def test_the_clock_needs_the_test_helpers_scope(
    client: FlaskClient, uow: UnitOfWork, project: Project, clock: Clock,
) -> None:
    key = create_key(uow, project.team_id, ["task.read"], [project.project_id]).key
    response = client.post(clock.path, json={}, headers=auth(key))
    assert (response.status_code, response.get_json()["error"]["code"]) == (
        403, "insufficient_scope")


# --- the team's writes follow its clock -----------------------------------------------------

def test_a_frozen_team_s_writes_carry_the_clock_s_time(project: Project, clock: Clock) -> None:
    clock.freeze()
    upload = project.upload((documents.invoice_pdf(), "a.pdf"))
    [task_id] = upload["taskIds"]
    assert upload["createdAt"] == START
    assert project.task(task_id)["created_at"] == START
    assert [e["created_at"] for e in project.events(task_id)] == [START]


def test_a_frozen_team_s_lists_keep_creation_order_at_one_moment(
    project: Project, clock: Clock,
) -> None:
    clock.freeze()
    made = [project.upload((documents.invoice_pdf(), f"{n}.pdf"))["taskIds"][0]
            for n in range(6)]
    listed = project.client.get(project.path("/task?sort=created_at:asc"),
                                headers=auth(project.key)).get_json()["payload"]
    assert [task["id"] for task in listed] == made
    assert {task["created_at"] for task in listed} == {START}
    clock.advance(seconds=0)  # nothing due: the moment stays, and so does the order
    later = project.upload((documents.invoice_pdf(), "later.pdf"))["taskIds"][0]
    listed = project.client.get(project.path("/task"), headers=auth(project.key)).get_json()
    assert [task["id"] for task in listed["payload"]] == [later, *reversed(made)]


def test_workers_leave_a_frozen_team_s_jobs_alone(
    engine: Engine, config: Config, project: Project, clock: Clock,
) -> None:
    clock.freeze(iso(datetime.now(UTC) - timedelta(days=1)))  # due long ago, in real time
    [task_id] = project.upload((documents.invoice_pdf(), "a.pdf"))["taskIds"]
    assert drain(engine, config) == 0
    assert project.task(task_id)["status"] == "PROCESSING"
    with engine.connect() as conn:
        team = conn.execute(text("SELECT team_id FROM job")).scalar_one()
    assert team == project.team_id


def test_an_unfrozen_team_s_jobs_still_run_beside_a_frozen_one(
    client: FlaskClient, engine: Engine, config: Config, uow: UnitOfWork,
    seed: dict[str, Any], project: Project, clock: Clock,
) -> None:
    clock.freeze()
    project.upload((documents.invoice_pdf(), "a.pdf"))
    other = Project(client, uow, {"team_id": create_team(uow, "Other")}, delay=0.0)
    [task_id] = other.upload((documents.invoice_pdf(), "b.pdf"))["taskIds"]
    assert drain(engine, config) == 1
    assert other.task(task_id)["status"] == "REVIEWING"


# --- advance ---------------------------------------------------------------------------------

def test_advance_runs_the_pipeline_at_its_own_moment_and_notifies_over_http(
    project: Project, clock: Clock, receiver: Receiver,
) -> None:
    secret = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHM="
    connect(project, receiver.url, secret=secret)
    clock.freeze()
    [task_id] = project.upload((documents.invoice_pdf(), "a.pdf"))["taskIds"]
    assert clock.advance(seconds=1)["ran"] == []
    assert project.task(task_id)["status"] == "PROCESSING"
    answer = clock.advance(seconds=1)
    notification_id = notifications(project)[0]["id"]
    assert answer["ran"] == [
        {"kind": "extract", "due_at": "2030-01-01T09:00:02Z", "subject": task_id,
         "outcome": "REVIEWING"},
        {"kind": "deliver", "due_at": "2030-01-01T09:00:02Z", "subject": notification_id,
         "outcome": "delivered"},
    ]
    assert (answer["now"], answer["advanced_seconds"], answer["settled"]) == (
        "2030-01-01T09:00:02Z", 2.0, True)
    assert answer["pending"] == []
    assert project.task(task_id)["status"] == "REVIEWING"
    assert [e["created_at"] for e in project.events(task_id)] == [START, "2030-01-01T09:00:02Z"]
    [received] = receiver.received
    assert received.event == "UPLOAD_IN_REVIEW"
    stamp = str(int((T0 + timedelta(seconds=2)).timestamp()))
    assert received.headers["webhook-timestamp"] == stamp
    assert received.headers["X-Sendai-Signature"].startswith(f"t={stamp},")
    assert received.json["created_at"] == "2030-01-01T09:00:02Z"
    assert received.headers["Date"] == "Tue, 01 Jan 2030 09:00:02 GMT"


def test_eight_failed_deliveries_over_three_days_in_one_advance(
    project: Project, clock: Clock, receivers: list[Receiver],
) -> None:
    down = Receiver(default=503)
    receivers.append(down)
    connect(project, down.url)
    clock.freeze()
    project.upload((documents.invoice_pdf(), "a.pdf"))
    answer = clock.advance(seconds=3 * 86400)
    delivered = [job for job in answer["ran"] if job["kind"] == "deliver"]
    assert [job["outcome"] for job in delivered] == ["retry"] * 7 + ["failed"]
    assert len(down.received) == 8
    [notification] = notifications(project)
    assert notification["status"] == "failed"
    at = [datetime.fromisoformat(a["at"].replace("Z", "+00:00"))
          for a in notification["attempts"]]
    assert [int((b - a).total_seconds()) for a, b in zip(at, at[1:], strict=False)] == [
        1, 2, 4, 8, 16, 32, 64]
    assert at[0] == T0 + timedelta(seconds=2)
    assert answer["now"] == "2030-01-04T09:00:00Z"


def test_a_retry_after_waits_on_the_clock(
    project: Project, clock: Clock, receivers: list[Receiver],
) -> None:
    busy = Receiver(script=[(429, {"Retry-After": "600"})])
    receivers.append(busy)
    connect(project, busy.url)
    clock.freeze()
    project.upload((documents.invoice_pdf(), "a.pdf"))
    first = clock.advance(seconds=60)
    assert [j["outcome"] for j in first["ran"] if j["kind"] == "deliver"] == ["retry"]
    assert first["pending"][0]["due_at"] == "2030-01-01T09:10:02Z"
    second = clock.advance(to="2030-01-01T09:10:02Z")
    assert [j["outcome"] for j in second["ran"]] == ["delivered"]
    assert len(busy.received) == 2


def test_the_same_advance_from_the_same_start_gives_the_same_run(
    client: FlaskClient, uow: UnitOfWork, receivers: list[Receiver],
) -> None:
    def play() -> tuple[list[dict[str, Any]], list[Any]]:
        project = Project(client, uow, {"team_id": create_team(uow, "Twin")}, delay=2.0)
        flaky = Receiver(script=[500, 503, 200])
        receivers.append(flaky)
        connect(project, flaky.url)
        clock = Clock(project)
        clock.freeze()
        tasks = project.upload((documents.invoice_pdf(), "a.pdf"),
                               (documents.invoice_pdf(), "b.pdf"))["taskIds"]
        ran = clock.advance(seconds=3600)["ran"]
        names = {task_id: f"task{n}" for n, task_id in enumerate(tasks)}
        stamps = [[e["created_at"] for e in project.events(t)] for t in tasks]
        stamps += [[a["at"] for a in n["attempts"]] for n in notifications(project)]
        return [{**job, "subject": names.get(job["subject"], job["kind"])} for job in ran], \
            stamps

    first, second = play(), play()
    assert first == second
    assert len(first[0]) == 5  # two extracts, a delivery failed twice and delivered


def test_jobs_due_at_one_moment_run_in_order_and_the_clock_can_be_sent_to_it_again(
    project: Project, clock: Clock,
) -> None:
    clock.freeze()
    tasks = [project.upload((documents.invoice_pdf(), f"{n}.pdf"))["taskIds"][0]
             for n in range(3)]
    answer = clock.advance(to="2030-01-01T09:00:02Z")
    assert [job["subject"] for job in answer["ran"]] == tasks
    assert clock.advance(to="2030-01-01T09:00:02Z")["ran"] == []
    assert clock.advance(seconds=0)["now"] == "2030-01-01T09:00:02Z"


def test_past_the_cap_the_clock_stops_at_the_last_job_run(
    monkeypatch: pytest.MonkeyPatch, project: Project, clock: Clock,
) -> None:
    monkeypatch.setattr(team_clock, "MAX_JOBS_PER_ADVANCE", 2)
    clock.freeze()
    project.upload(*[(documents.invoice_pdf(), f"{n}.pdf") for n in range(3)])
    answer = clock.advance(seconds=60)
    assert (answer["settled"], len(answer["ran"]), answer["now"]) == (
        False, 2, "2030-01-01T09:00:02Z")
    assert len(answer["pending"]) == 1
    rest = clock.advance(seconds=0)
    assert (rest["settled"], len(rest["ran"])) == (True, 1)


def test_advances_of_one_team_never_interleave(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, project: Project, clock: Clock,
) -> None:
    """A second advance waits for the clock's lease, which the first holds: it finds the
    clock taken, and runs nothing until the lease is given back."""
    clock.freeze()
    project.upload((documents.invoice_pdf(), "a.pdf"))
    refused = threading.Event()
    take = team_clock._take

    def watched(conn: Any, team_id: str, token: str) -> bool:
        taken = take(conn, team_id, token)
        if not taken:
            refused.set()
        return taken

    monkeypatch.setattr(team_clock, "_take", watched)
    with UnitOfWork(engine) as uow:
        held = team_clock.hold(uow, project.team_id)
    assert held is not None
    answers: list[dict[str, Any]] = []
    second = threading.Thread(target=lambda: answers.append(clock.advance(seconds=5)))
    second.start()
    assert refused.wait(30), "the second advance never found the clock held"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT attempts FROM job")).scalar_one() == 0
    assert not answers
    with UnitOfWork(engine) as uow:
        team_clock.release(uow, held)
    second.join(30)
    assert not second.is_alive()
    assert [job["kind"] for job in answers[0]["ran"]] == ["extract"]


def test_freezes_at_once_of_a_team_on_real_time_all_succeed(clock: Clock) -> None:
    start = threading.Barrier(6)
    statuses: list[int] = []

    def freeze() -> None:
        start.wait(timeout=30)
        statuses.append(clock.call("POST", json={"frozen_at": START}).status_code)

    racers = [threading.Thread(target=freeze) for _ in range(6)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(30)
    assert statuses == [200] * 6
    assert clock.show().get_json()["payload"]["now"] == START


# --- resume ----------------------------------------------------------------------------------

def test_after_resume_what_fell_due_runs_by_the_workers(
    engine: Engine, config: Config, project: Project, clock: Clock,
) -> None:
    clock.freeze(iso(datetime.now(UTC) - timedelta(hours=1)))
    [task_id] = project.upload((documents.invoice_pdf(), "a.pdf"))["taskIds"]
    assert drain(engine, config) == 0
    assert clock.call("DELETE").status_code == 204
    assert drain(engine, config) == 1
    assert project.task(task_id)["status"] == "REVIEWING"


def test_after_resume_a_wait_keeps_what_it_had_left_on_the_clock(
    engine: Engine, project: Project, clock: Clock,
) -> None:
    clock.freeze()  # 2030: the upload's job is due 2 s after it, on the clock
    project.upload((documents.invoice_pdf(), "a.pdf"))
    before = datetime.now(UTC)
    assert clock.call("DELETE").status_code == 204
    with engine.connect() as conn:
        due = conn.execute(text("SELECT run_at FROM job")).scalar_one()
    due = (due if isinstance(due, datetime) else datetime.fromisoformat(due)).replace(tzinfo=UTC)
    assert before + timedelta(seconds=2) - timedelta(seconds=1) <= due
    assert due <= datetime.now(UTC) + timedelta(seconds=2)


def test_a_job_without_a_team_is_still_claimed(engine: Engine, config: Config) -> None:
    """Jobs written before the clock existed have no team: they are never frozen."""
    with UnitOfWork(engine) as uow, uow.write() as conn:
        jobs.enqueue(conn, "nothing-handles-this", payload={})
    with UnitOfWork(engine) as uow:
        assert jobs.claim(uow, "test", 60) is not None


def test_delivery_lease_covers_an_advance_s_attempt(config: Config) -> None:
    assert deliveries.lease_seconds(config) < team_clock.LEASE_SECONDS

