"""A connection the database drops in the middle of a write (issue 33): the request answers
503 `unavailable`, never 500, and the next one is served; a worker whose job's write lost its
connection survives, gives the job back without spending its attempt, and the job is done once.

Each test holds one SQL statement of the write at a barrier (store/statement_barrier.py)
while the test ends that statement's PostgreSQL backend with `pg_terminate_backend`, then lets
it run on the dead connection. PostgreSQL only: SQLite has no server to drop a connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.domain.errors import Unavailable
from sendai_server.pipeline.worker import WorkerHooks
from sendai_server.services import keys
from sendai_server.store import statement_barrier
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import REPO_ROOT, LiveServer, auth
from tests.support.processes import DEADLINE, wait_until
from tests.support.worker import Running, enqueue, handled, job_count, record  # noqa: F401

SAMPLE = (REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf").read_bytes()
TERMINATE = "SELECT pg_terminate_backend(:pid, 10000)"  # waits until the backend is gone
TERMINATE_ALL = (
    "SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


@pytest.fixture
def postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL ends a backend; SQLite has no server to drop a connection")


class Barrier:
    """The test's side of statement_barrier's folder: hold a statement, end its backend."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        folder.mkdir(parents=True, exist_ok=True)

    def hold(self, statement: str) -> None:
        (self.folder / "hold").write_text(statement)

    def held_pid(self) -> int:
        held = wait_until(lambda: list(self.folder.glob("held-*")), "a statement held")
        return int(held[0].name.removeprefix("held-"))

    def terminate(self, engine: Engine, pid: int, *, everyone: bool = False) -> None:
        with engine.connect() as conn:
            if everyone:
                assert conn.execute(text(TERMINATE_ALL)).scalar_one() >= 1
            else:
                assert conn.execute(text(TERMINATE), {"pid": pid}).scalar_one() is True

    def release(self) -> None:
        (self.folder / "release").touch()


@pytest.fixture
def barrier(tmp_path: Path, database_url: str) -> Barrier:
    return Barrier(tmp_path / "barrier", database_url)


@pytest.fixture
def live(postgresql: None, database_url: str, barrier: Barrier,
         seed: dict[str, Any]) -> Iterator[LiveServer]:
    server = LiveServer(database_url, workers=1,
                        env={"SENDAI_TEST_STATEMENT_BARRIER": str(barrier.folder)})
    yield server
    server.stop()


def _in_background(call: Callable[[], requests.Response]) -> Future[requests.Response]:
    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def _assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "unavailable" and error["status"] == 503
    assert int(response.headers["Retry-After"]) >= 1


@pytest.fixture
def uploads(uow: UnitOfWork, seed: dict[str, Any]) -> Callable[[LiveServer], requests.Response]:
    """A poster of one PDF upload to the live server, with a key that may upload."""
    key = keys.create_key(uow, seed["team_id"], ["upload.create", "upload.read"],
                          [seed["project_id"]], "uploads").key
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload"

    def post(server: LiveServer) -> requests.Response:
        return requests.post(server.url + path, headers=auth(key), timeout=DEADLINE,
                             files={"file": ("invoice.pdf", SAMPLE, "application/pdf")})

    return post


@pytest.mark.slow
@pytest.mark.parametrize("everyone", [False, True], ids=["its_backend", "every_backend"])
def test_an_upload_whose_connection_is_killed_mid_write_answers_503_then_serves(
    live: LiveServer, barrier: Barrier, engine: Engine,
    uploads: Callable[[LiveServer], requests.Response], everyone: bool,
) -> None:
    """The upload's INSERT is held while its backend (or every backend: then the request's
    clean-up read, of which stored files no upload refers to, meets dead pooled connections
    too) is ended: a 503 `unavailable`, nothing written, and the next upload is served."""
    uploads_before = _count(engine, "SELECT count(*) FROM upload")
    barrier.hold("INSERT INTO upload ")
    answer = _in_background(lambda: uploads(live))
    barrier.terminate(engine, barrier.held_pid(), everyone=everyone)
    barrier.release()
    _assert_unavailable(answer.result(timeout=DEADLINE))
    assert _count(engine, "SELECT count(*) FROM upload") == uploads_before

    for _ in range(3):  # gthread's pooled connections: whichever the next request gets
        made = uploads(live)
        assert made.status_code == 200, made.text
    assert _count(engine, "SELECT count(*) FROM upload") == uploads_before + 3


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def test_a_worker_whose_job_write_loses_its_connection_gives_the_job_back_and_does_it_once(
    postgresql: None, engine: Engine, uow: UnitOfWork, config: Config, barrier: Barrier,
    handled: Callable[[], list[Any]],  # noqa: F811
) -> None:
    """The job's effect and its finish are one write; its connection is killed at the finish
    (the write's first statement). The worker survives, the job is given back with its attempt
    not counted, runs again at once (no wait for its lease) and its effect commits once."""
    fast = config.with_overrides(worker_poll_seconds=0.05, job_lease_seconds=600.0)
    statement_barrier.install(engine, barrier.folder)
    (job_id,) = enqueue(uow, "record")
    barrier.hold("DELETE FROM job")
    ran = threading.Event()
    worker = Running(engine, fast, handlers={"record": record},
                     hooks=WorkerHooks(done=lambda _job, _error: ran.set()))
    try:
        barrier.terminate(engine, barrier.held_pid())
        barrier.release()
        assert ran.wait(DEADLINE), "the job's first run did not end"
        first_error = worker.done[0][1]
        assert isinstance(first_error, Unavailable), repr(first_error)
        wait_until(lambda: len(worker.done) == 2, "the job run again once given back")
    finally:
        worker.finish()
    assert worker.done[1][1] is None
    assert [(row.job_id, row.attempts) for row in handled()] == [(job_id, 1)]
    assert job_count(engine) == 0


def test_production_ignores_the_statement_barrier() -> None:
    environ = {"SENDAI_TEST_STATEMENT_BARRIER": "/tmp/held"}
    assert Config.from_env({**environ, "SENDAI_ENV": "test"}).test_statement_barrier == "/tmp/held"
    production = {**environ, "SENDAI_ENV": "production", "DATABASE_URL": "sqlite:///x.db"}
    assert Config.from_env(production).test_statement_barrier is None
