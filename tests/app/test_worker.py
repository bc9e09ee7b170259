"""The pipeline's worker (pipeline/worker.py) and the `worker` and `serve` commands.

Every wait has a deadline and waits for something the worker shows (a hook called, a file
created, a row written, a log line): no sleep that hopes. Worker processes hold a job where a
test wants it with SENDAI_TEST_JOB_BARRIER and get the handlers of tests/support/worker.py through
SENDAI_TEST_JOB_HANDLERS=tests.support.worker:TEST_HANDLERS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select

from sendai_server.config import Config, ConfigError
from sendai_server.domain.errors import Unavailable
from sendai_server.pipeline.worker import WorkerHooks
from sendai_server.store.jobs import JOB, ClaimedJob, LeaseLost
from sendai_server.store.models import utcnow
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import REPO_ROOT, count_rows, free_port
from tests.support.processes import CLI, DEADLINE, wait_until
from tests.support.processes import WorkerProcess as _WorkerProcess
from tests.support.worker import Running, enqueue, job_count, record

# --- in-process: run_worker in threads --------------------------------------------------------


@pytest.fixture
def fast(config: Config) -> Config:
    return config.with_overrides(worker_poll_seconds=0.05, job_lease_seconds=60.0)


def test_the_worker_runs_each_job_once_with_its_effect(
    engine: Engine, uow: UnitOfWork, fast: Config, handled: Callable[[], list[Any]]
) -> None:
    ids = enqueue(uow, "record", 20)
    worker = Running(engine, fast, concurrency=2)
    try:
        wait_until(lambda: len(worker.done) == 20, "20 jobs done")
    finally:
        worker.finish()
    assert [row.job_id for row in handled()] == ids
    assert all(error is None for _job, error in worker.done)
    assert job_count(engine) == 0


def test_a_job_whose_handler_raises_is_retried_later_with_its_error_recorded(
    engine: Engine, uow: UnitOfWork, fast: Config, handled: Callable[[], list[Any]]
) -> None:
    [job_id] = enqueue(uow, "explode_once")
    seen_after_failure: list[Any] = []

    def done(job: ClaimedJob, error: BaseException | None) -> None:
        if error is not None:
            with engine.connect() as conn:
                seen_after_failure.append(conn.execute(select(
                    JOB.c.attempts, JOB.c.last_error, JOB.c.run_at, JOB.c.lease_token)).one())

    started = utcnow()
    worker = Running(engine, fast, WorkerHooks(done=done))
    try:
        wait_until(lambda: len(worker.done) == 2, "the failure and the retry")
    finally:
        worker.finish()
    [(first, error), (second, success)] = worker.done
    assert isinstance(error, RuntimeError) and success is None
    assert (first.attempts, second.attempts) == (1, 2)
    [row] = seen_after_failure
    assert row.attempts == 1 and row.lease_token is None
    assert row.last_error.startswith("RuntimeError: boom on attempt 1")
    assert row.run_at >= started + timedelta(seconds=1)  # the backoff
    assert [(r.job_id, r.attempts) for r in handled()] == [(job_id, 2)]
    assert job_count(engine) == 0


def test_a_worker_that_lost_its_lease_does_not_commit_its_effect(
    engine: Engine, uow: UnitOfWork, config: Config, handled: Callable[[], list[Any]]
) -> None:
    """A holds the job past its lease; B takes it and finishes it; then A goes on: its finish
    raises LeaseLost and its effect rolls back. The job's effect is there once."""
    short = config.with_overrides(worker_poll_seconds=0.05, job_lease_seconds=0.5)
    enqueue(uow, "record")
    a_holds, a_may_go = threading.Event(), threading.Event()

    def hold_first_claim(job: ClaimedJob) -> None:
        if job.attempts == 1:
            a_holds.set()
            assert a_may_go.wait(DEADLINE)

    a = Running(engine, short, WorkerHooks(claimed=hold_first_claim))
    b = None
    try:
        assert a_holds.wait(DEADLINE)
        b = Running(engine, short)
        wait_until(lambda: len(b.done) == 1, "B to finish the job after A's lease ran out")
        a_may_go.set()
        wait_until(lambda: len(a.done) == 1, "A to give up the job")
    finally:
        a_may_go.set()
        a.finish()
        if b is not None:
            b.finish()
    [(_job, error)] = a.done
    assert isinstance(error, LeaseLost)
    assert [(r.job_id, r.attempts) for r in handled()] == [(_job.id, 2)]
    assert job_count(engine) == 0


def test_the_worker_sleeps_until_the_next_job_is_due_not_its_poll_interval(
    engine: Engine, uow: UnitOfWork, config: Config, handled: Callable[[], list[Any]]
) -> None:
    """Idle, it looks at the job table every 60 s; the job due in 0.3 s runs long before."""
    slow_poll = config.with_overrides(worker_poll_seconds=60)
    run_at = utcnow() + timedelta(seconds=0.3)
    claims: list[Any] = []
    enqueue(uow, "record", run_at=run_at)
    worker = Running(engine, slow_poll, WorkerHooks(claimed=lambda job: claims.append(utcnow())))
    try:
        wait_until(lambda: worker.done, "the job", timeout=20)
    finally:
        worker.finish()
    assert claims[0] >= run_at  # not early either
    assert len(handled()) == 1


def test_stop_wakes_an_idle_worker_at_once(engine: Engine, config: Config) -> None:
    worker = Running(engine, config.with_overrides(worker_poll_seconds=600))
    started = time.monotonic()
    worker.finish()
    assert time.monotonic() - started < 5


def test_a_database_failure_in_a_job_is_survived_and_the_job_runs_again(
    engine: Engine, uow: UnitOfWork, config: Config, handled: Callable[[], list[Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    short = config.with_overrides(worker_poll_seconds=0.05, job_lease_seconds=0.3)

    calls: list[int] = []

    def outage_once(uow: UnitOfWork, job: ClaimedJob) -> None:
        calls.append(job.attempts)
        if len(calls) == 1:
            raise Unavailable("The database does not answer; retry shortly.")
        record(uow, job)

    enqueue(uow, "flaky_db")
    worker = Running(engine, short, handlers={"flaky_db": outage_once})
    try:
        wait_until(lambda: len(worker.done) == 2, "the job to run again")
    finally:
        worker.finish()
    assert isinstance(worker.done[0][1], Unavailable) and worker.done[1][1] is None
    assert [r.attempts for r in handled()] == [1]  # given back: the outage spent no attempt


# --- worker processes -------------------------------------------------------------------------

def WorkerProcess(database_url: str, tmp_path: Path, name: str, *args: str,  # noqa: N802
                  barrier: Path | None = None, lease: float = 60.0) -> _WorkerProcess:
    """A worker process whose handlers are this module's test handlers."""
    env = {"DATABASE_URL": database_url,
           "SENDAI_TEST_JOB_HANDLERS": "tests.support.worker:TEST_HANDLERS"}
    return _WorkerProcess(env, tmp_path / f"{name}.log", barrier=barrier, lease=lease,
                          args=args)


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


def claimed(barrier: Path) -> list[Path]:
    return sorted(barrier.glob("claimed-*")) if barrier.exists() else []


@pytest.mark.slow
def test_the_worker_command_starts_and_stops_on_sigterm(
    database_url: str, tmp_path: Path, processes: list[WorkerProcess]
) -> None:
    worker = WorkerProcess(database_url, tmp_path, "idle")
    processes.append(worker)
    assert worker.stop() == 0
    assert "SIGTERM: stopping after the current job" in worker.log()
    assert "worker stopped" in worker.log()


@pytest.mark.slow
def test_sigterm_lets_the_held_job_finish_then_the_worker_exits_0(
    database_url: str, tmp_path: Path, uow: UnitOfWork, engine: Engine,
    handled: Callable[[], list[Any]], processes: list[WorkerProcess],
) -> None:
    barrier = tmp_path / "barrier"
    first, second = enqueue(uow, "record", 2)
    worker = WorkerProcess(database_url, tmp_path, "held", barrier=barrier)
    processes.append(worker)
    wait_until(lambda: claimed(barrier), "the job to reach the barrier")
    assert claimed(barrier) == [barrier / f"claimed-{first}"]
    worker.process.send_signal(signal.SIGTERM)
    wait_until(lambda: "stopping after the current job" in worker.log(), "the SIGTERM")
    (barrier / f"release-{first}").touch()
    assert worker.process.wait(timeout=DEADLINE) == 0
    assert [r.job_id for r in handled()] == [first]
    assert count_rows(engine, "SELECT count(*) FROM job WHERE id = :i AND attempts = 0",
                      i=second) == 1  # not taken after the SIGTERM


@pytest.mark.slow
def test_a_job_held_by_a_killed_worker_is_done_once_by_another_after_its_lease(
    database_url: str, tmp_path: Path, uow: UnitOfWork, engine: Engine,
    handled: Callable[[], list[Any]], processes: list[WorkerProcess],
) -> None:
    barrier = tmp_path / "barrier"
    [job_id] = enqueue(uow, "record")
    doomed = WorkerProcess(database_url, tmp_path, "doomed", barrier=barrier, lease=2.0)
    processes.append(doomed)
    wait_until(lambda: claimed(barrier), "the job to reach the barrier")
    doomed.process.kill()  # SIGKILL: no chance to clean up
    assert doomed.process.wait(timeout=DEADLINE) == -signal.SIGKILL
    assert count_rows(engine, "SELECT count(*) FROM job WHERE attempts = 1 "
                              "AND lease_token IS NOT NULL") == 1

    heir = WorkerProcess(database_url, tmp_path, "heir", lease=2.0)
    processes.append(heir)
    wait_until(lambda: handled(), "the second worker to do the job")
    assert heir.stop() == 0
    assert [(r.job_id, r.attempts, r.worker) for r in handled()] == [
        (job_id, 2, str(heir.process.pid))]
    assert job_count(engine) == 0


@pytest.mark.slow
def test_two_worker_processes_do_200_jobs_each_exactly_once(
    database_url: str, tmp_path: Path, uow: UnitOfWork, engine: Engine,
    handled: Callable[[], list[Any]], processes: list[WorkerProcess],
) -> None:
    """Both workers first hold a job each at the barrier (so both surely take part), then every
    job is released. PostgreSQL: SKIP LOCKED; SQLite: the write lock."""
    barrier = tmp_path / "barrier"
    ids = enqueue(uow, "record", 200)
    for name in ("one", "two"):
        processes.append(WorkerProcess(database_url, tmp_path, name, barrier=barrier))
    wait_until(lambda: len(claimed(barrier)) == 2, "each worker to hold a job")
    for job_id in ids:
        (barrier / f"release-{job_id}").touch()
    wait_until(lambda: job_count(engine) == 0, "every job to be done", timeout=120)
    assert [process.stop() for process in processes] == [0, 0]
    rows = handled()
    assert [r.job_id for r in rows] == ids  # each job once, none twice
    assert {r.worker for r in rows} == {str(p.process.pid) for p in processes}
    assert all(r.attempts == 1 for r in rows)


# --- serve: gunicorn and a worker ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("no_worker", [False, True])
def test_serve_runs_a_worker_beside_gunicorn_and_stops_both_on_sigterm(
    database_url: str, tmp_path: Path, uow: UnitOfWork, engine: Engine,
    handled: Callable[[], list[Any]], no_worker: bool,
) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "SENDAI_ENV": "test",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
           "SENDAI_TEST_JOB_HANDLERS": "tests.support.worker:TEST_HANDLERS",
           "SENDAI_WORKER_POLL_SECONDS": "0.05", "SENDAI_LOG_LEVEL": "WARNING"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        serve = subprocess.Popen(
            [CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1",
             *(["--no-worker"] if no_worker else [])],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(healthy, "gunicorn to answer")
        [job_id] = enqueue(uow, "record")
        if not no_worker:
            wait_until(handled, "serve's worker to do the job")
        children = subprocess.run(["pgrep", "-P", str(serve.pid)], capture_output=True,
                                  text=True).stdout.split()
        assert len(children) == (1 if no_worker else 2)  # gunicorn [and the worker]
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=DEADLINE) == 0, log_path.read_text()
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    assert [r.job_id for r in handled()] == ([] if no_worker else [job_id])
    for pid in map(int, children):  # nothing of serve is left running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# --- configuration ----------------------------------------------------------------------------

def test_the_pipeline_settings_come_from_the_environment() -> None:
    config = Config.from_env({"SENDAI_PIPELINE_DELAY": "0", "SENDAI_JOB_LEASE_SECONDS": "2",
                              "SENDAI_WORKER_POLL_SECONDS": "0.25",
                              "SENDAI_TEST_JOB_BARRIER": "/tmp/barrier",
                              "SENDAI_TEST_JOB_HANDLERS": "tests.support.worker:TEST_HANDLERS"})
    assert (config.pipeline_delay, config.job_lease_seconds, config.worker_poll_seconds) == (
        0.0, 2.0, 0.25)
    assert config.test_job_barrier == "/tmp/barrier"
    assert config.test_job_handlers == "tests.support.worker:TEST_HANDLERS"
    defaults = Config.from_env({})
    assert (defaults.pipeline_delay, defaults.job_lease_seconds,
            defaults.worker_poll_seconds) == (1.0, 60.0, 1.0)
    assert defaults.test_job_barrier is None and defaults.test_job_handlers is None


def test_production_ignores_the_worker_test_hooks() -> None:
    config = Config.from_env({"SENDAI_ENV": "production", "DATABASE_URL": "sqlite:///x.db",
                              "SENDAI_TEST_JOB_BARRIER": "/tmp/barrier",
                              "SENDAI_TEST_JOB_HANDLERS": "tests.support.worker:TEST_HANDLERS"})
    assert config.test_job_barrier is None and config.test_job_handlers is None


@pytest.mark.parametrize("name, value", [("SENDAI_PIPELINE_DELAY", "3601"),
                                         ("SENDAI_PIPELINE_DELAY", "soon"),
                                         ("SENDAI_JOB_LEASE_SECONDS", "0"),
                                         ("SENDAI_WORKER_POLL_SECONDS", "-1"),
                                         ("SENDAI_WORKER_POLL_SECONDS", "nan")])
def test_a_pipeline_setting_out_of_range_is_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: value})
