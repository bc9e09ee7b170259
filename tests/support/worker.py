"""The worker's test handlers and helpers (pipeline/worker.py): each handler's effect is a row in
test_handled, committed with the job's finish (`handled` makes the table and reads it);
`Running` is run_worker in a thread of the test. Worker processes get these handlers through
SENDAI_TEST_JOB_HANDLERS=tests.support.worker:TEST_HANDLERS."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from sendai_server.config import Config
from sendai_server.pipeline.worker import Handler, WorkerHooks, run_worker
from sendai_server.store import jobs
from sendai_server.store.jobs import ClaimedJob
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import count_rows
from tests.support.processes import DEADLINE


def record(uow: UnitOfWork, job: ClaimedJob) -> None:
    with uow.write() as conn:
        jobs.finish(conn, job)
        conn.execute(text("INSERT INTO test_handled (job_id, attempts, worker) "
                          "VALUES (:j, :a, :w)"),
                     {"j": job.id, "a": job.attempts, "w": f"{os.getpid()}"})


def explode(uow: UnitOfWork, job: ClaimedJob) -> None:
    raise RuntimeError(f"boom on attempt {job.attempts}")


def explode_once(uow: UnitOfWork, job: ClaimedJob) -> None:
    if job.attempts == 1:
        explode(uow, job)
    record(uow, job)


TEST_HANDLERS: dict[str, Handler] = {"record": record, "explode": explode,
                                     "explode_once": explode_once}


@pytest.fixture
def handled(engine: Engine) -> Iterator[Callable[[], list[Any]]]:
    """The table the test handlers write to; returns a reader of its rows."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE test_handled (job_id INTEGER, attempts INTEGER, "
                          "worker VARCHAR(40))"))

    def rows() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT job_id, attempts, worker FROM test_handled "
                                          "ORDER BY job_id")))

    yield rows
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE test_handled"))


def enqueue(uow: UnitOfWork, kind: str, count: int = 1, **fields: Any) -> list[int]:
    with uow.write() as conn:
        return [jobs.enqueue(conn, kind, **fields) for _ in range(count)]


def job_count(engine: Engine) -> int:
    return count_rows(engine, "SELECT count(*) FROM job")


class Running:
    """run_worker in a thread of the test; `done` collects (job, error) from the hook."""

    def __init__(self, engine: Engine, config: Config, hooks: WorkerHooks | None = None,
                 concurrency: int = 1, handlers: dict[str, Handler] | None = None) -> None:
        self.stop = threading.Event()
        self.done: list[tuple[ClaimedJob, BaseException | None]] = []
        hooks = hooks or WorkerHooks()
        outer_done = hooks.done

        def done(job: ClaimedJob, error: BaseException | None) -> None:
            outer_done(job, error)
            self.done.append((job, error))

        self.thread = threading.Thread(target=run_worker, args=(engine, config), kwargs={
            "concurrency": concurrency, "stop": self.stop,
            "handlers": TEST_HANDLERS if handlers is None else handlers,
            "hooks": WorkerHooks(claimed=hooks.claimed, done=done)})
        self.thread.start()

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=DEADLINE)
        assert not self.thread.is_alive(), "the worker did not stop"
