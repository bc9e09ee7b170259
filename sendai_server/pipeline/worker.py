"""The pipeline's worker (docs/pipeline.md): claim a due job, run its handler, again.

`run_worker` runs `concurrency` threads until `stop` is set. Each turn of a thread makes its
own `UnitOfWork(engine)`, claims one job of a kind it has a handler for (jobs.claim) and runs
the handler. A handler does its slow work first (reading files, extracting) and then writes the
effect and `jobs.finish(conn, job)` in ONE `uow.write()` of its own: the job is done exactly
when its effect commits. A handler that raises gets `jobs.fail` (the error recorded, the job
due again after a backoff); one whose lease was lost (`LeaseLost`) leaves the job to the
worker that has it now. With nothing due, a thread sleeps until the next job is due or the poll
interval has passed, on `stop.wait`, so setting `stop` wakes it at once. A job already running
when `stop` is set runs to its end. A database that fails (`Unavailable`) is logged once, when
the outage starts and when it ends, and retried after a short pause: never a crash. A job
whose database went away mid-run is given back once the database answers again (its lease
released, its attempt not counted: the outage was no fault of the job's); a worker stopped
before then leaves it to its lease, which runs out.

Handlers come by kind from `load_handlers(config)`: the pipeline's steps (steps.handlers), the
deliveries (deliveries.handlers) and, outside production, those SENDAI_TEST_JOB_HANDLERS names.

Test hooks (both off unless set, and ignored in production, config.py):

- SENDAI_TEST_JOB_BARRIER=/some/folder: after claiming job N and before running its handler
  (so before it is finished), the worker creates `claimed-N` in that folder and waits until a
  file `release-N` appears there (for at most `BARRIER_TIMEOUT_SECONDS`; then it goes on and
  logs a warning). A test sees where the job is, and decides when it goes on: kill -9 the
  worker there, send it SIGTERM, let a lease run out, release it. Creating `release-N` before
  the job is claimed lets it through without a stop. `stop` does not end a wait at the
  barrier: a held job is a job being run.
- SENDAI_TEST_JOB_HANDLERS=module:attribute names a mapping of kind -> handler that a worker
  started as a process (`sendai-server worker`) adds to its handlers: how a test gives such a
  worker handlers of its own without any test code in the package.
- In-process, `run_worker(..., hooks=WorkerHooks(claimed=..., done=...))` does the same with
  plain callables (threading.Event and the like).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from ..config import Config
from ..domain import clock, profiles
from ..domain.errors import Unavailable
from ..store import jobs
from ..store.jobs import ClaimedJob, LeaseLost
from ..store.uow import UnitOfWork

log = logging.getLogger("sendai_server.worker")

Handler = Callable[[UnitOfWork, ClaimedJob], None]

BARRIER_TIMEOUT_SECONDS = 60.0
# Threads that deliver notifications, besides the pipeline's (`worker --delivery-concurrency`).
DELIVERY_CONCURRENCY = 4
# A thread that found nothing to claim sleeps at least this long, even when the next job seems
# due already (a job another worker is finishing right now): never a busy loop.
MIN_SLEEP_SECONDS = 0.05


def load_handlers(config: Config) -> dict[str, Handler]:
    """The pipeline's steps (steps.py, reading files from the configured storage), the
    deliveries, and, outside production, the test handlers SENDAI_TEST_JOB_HANDLERS names."""
    from ..store.storage import storage_from_url
    from . import deliveries, steps

    handlers = {**steps.handlers(storage_from_url(config.storage_url)),
                **deliveries.handlers(config)}
    if config.test_job_handlers and not config.is_production:
        module, _, attribute = config.test_job_handlers.partition(":")
        handlers.update(getattr(importlib.import_module(module), attribute))
    return handlers


# --- hooks --------------------------------------------------------------------------------------

def _nothing(*_args: object) -> None:
    pass


@dataclass(frozen=True)
class WorkerHooks:
    """Called in the worker's thread: `claimed(job)` after the claim, before the handler runs;
    `done(job, error)` after the job ran and its failure (if any) was recorded (error None when
    the handler returned)."""

    claimed: Callable[[ClaimedJob], None] = _nothing
    done: Callable[[ClaimedJob, BaseException | None], None] = _nothing


def file_barrier(
    folder: str | Path, timeout: float = BARRIER_TIMEOUT_SECONDS
) -> Callable[[ClaimedJob], None]:
    """SENDAI_TEST_JOB_BARRIER's hook: announce `claimed-N`, wait for `release-N`."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)

    def hold(job: ClaimedJob) -> None:
        (path / f"claimed-{job.id}").touch()
        release = path / f"release-{job.id}"
        deadline = time.monotonic() + timeout
        while not release.exists():
            if time.monotonic() > deadline:
                log.warning("test barrier: no %s after %.0f s; going on", release.name, timeout)
                return
            time.sleep(0.01)  # a test hook: polling a file is simple, portable and cheap enough

    return hold


def default_hooks(config: Config) -> WorkerHooks:
    if config.test_job_barrier and not config.is_production:
        return WorkerHooks(claimed=file_barrier(config.test_job_barrier))
    return WorkerHooks()


# --- the loop -----------------------------------------------------------------------------------

def run_worker(
    engine: Engine,
    config: Config,
    *,
    concurrency: int = 1,
    delivery_concurrency: int = DELIVERY_CONCURRENCY,
    stop: threading.Event,
    handlers: Mapping[str, Handler] | None = None,
    hooks: WorkerHooks | None = None,
) -> None:
    """Run jobs until `stop` is set and each thread's current job is done: the pipeline's in
    `concurrency` threads, and deliveries of notifications (`jobs.DELIVER`) in
    `delivery_concurrency` threads of their own, so that receivers that answer slowly or not
    at all (up to SENDAI_DELIVERY_TIMEOUT_SECONDS an attempt) never hold up the pipeline's
    steps, nor, up to that many at once, each other.
    `handlers` defaults to `load_handlers(config)`, `hooks` to `default_hooks(config)`.
    Installs no signal handlers: that is the `worker` command's business (cli.py)."""
    from .deliveries import lease_seconds

    profiles.use_server_default(config.profile)  # the teams' default reading (SENDAI_PROFILE)
    handlers = load_handlers(config) if handlers is None else dict(handlers)
    hooks = default_hooks(config) if hooks is None else hooks
    if not handlers:
        log.warning("no job handlers registered: this worker will take no jobs")
    prefix = f"{socket.gethostname()}:{os.getpid()}"
    pipeline_kinds = sorted(kind for kind in handlers if kind != jobs.DELIVER)
    pools = [(pipeline_kinds, concurrency, config.job_lease_seconds, "")]
    if jobs.DELIVER in handlers:
        pools.append(([jobs.DELIVER], delivery_concurrency, lease_seconds(config), "d"))
    threads = [
        threading.Thread(
            target=_work, name=f"sendai-worker-{tag}{n}",
            args=(_Turns(engine, config, f"{prefix}:{tag}{n}", stop, handlers, hooks, kinds,
                         lease),),
        )
        for kinds, count, lease, tag in pools if kinds
        for n in range(count)
    ]
    log.info("worker started", extra={"concurrency": concurrency,
                                      "delivery_concurrency": delivery_concurrency,
                                      "kinds": sorted(handlers)})
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.info("worker stopped")


@dataclass
class _Turns:
    engine: Engine
    config: Config
    worker_id: str
    stop: threading.Event
    handlers: Mapping[str, Handler]
    hooks: WorkerHooks
    kinds: list[str]
    lease_seconds: float
    outage: bool = False

    @property
    def pause(self) -> float:
        return max(0.1, min(1.0, self.config.worker_poll_seconds))


def _work(turns: _Turns) -> None:
    kinds = turns.kinds
    while not turns.stop.is_set():
        try:
            due = _turn(turns, kinds)
        except Unavailable as exc:
            if not turns.outage:
                turns.outage = True
                log.error("worker: database unavailable (%s); retrying", exc)
            turns.stop.wait(turns.pause)
            continue
        except Exception:  # a bug in the loop itself: log it and keep the worker alive
            log.exception("worker: unexpected failure; retrying")
            turns.stop.wait(turns.pause)
            continue
        if turns.outage:
            turns.outage = False
            log.warning("worker: database available again")
        if due is not _RAN:
            turns.stop.wait(_sleep_seconds(due, turns.config.worker_poll_seconds))


_RAN = object()


def _turn(turns: _Turns, kinds: list[str]) -> object:
    """Claim and run one job: `_RAN`; or, with nothing to claim, when the next one is due."""
    with UnitOfWork(turns.engine) as uow:
        job = jobs.claim(uow, turns.worker_id, turns.lease_seconds, kinds)
        if job is None:
            with uow.read() as conn:
                return jobs.next_due(conn, kinds)
        run_job(uow, job, turns.handlers[job.kind], turns.hooks,
                give_back=lambda: _give_back(turns, uow, job))
        return _RAN


def run_job(uow: UnitOfWork, job: ClaimedJob, handler: Handler,
            hooks: WorkerHooks | None = None,
            give_back: Callable[[], None] | None = None) -> None:
    """Run a claimed job's handler; a failure is recorded on the job (`jobs.fail`: due again
    after a backoff), a lost lease logged. A job whose database went away is handed back, its
    attempt not spent (`give_back`: the worker's retries until the database answers; without
    one, once), and the outage raised. A worker's turn, and an advance of a team's clock
    (pipeline/clock_advance.py), run their jobs so."""
    hooks = hooks or WorkerHooks()
    hooks.claimed(job)
    error: BaseException | None = None
    try:
        handler(uow, job)
    except LeaseLost as exc:
        error = exc
        log.warning("job %s (%s): lease lost; another worker has it", job.id, job.kind)
    except Unavailable as exc:
        error = exc
        (give_back or (lambda: _give_back_once(uow, job)))()
        raise
    except Exception as exc:
        error = exc
        again = jobs.fail(uow, job, _describe(exc))
        log.error("job %s (%s) failed on attempt %d; %s", job.id, job.kind, job.attempts,
                  f"again at {again:%H:%M:%S}" if again else "not retried",
                  exc_info=exc, extra={"job_id": job.id, "task_id": job.task_id})
    finally:
        hooks.done(job, error)


def _give_back_once(uow: UnitOfWork, job: ClaimedJob) -> None:
    try:
        jobs.give_back(uow, job)
    except Unavailable:
        log.warning("job %s (%s): database still away; left to its lease", job.id, job.kind)


def _give_back(turns: _Turns, uow: UnitOfWork, job: ClaimedJob) -> None:
    """The database went away under `job`: give it back once it answers again (jobs.give_back;
    the unit of work dropped the lost connection and takes another), retrying after a pause
    until then or until the worker stops (then its lease runs out, and the attempt counts)."""
    while True:
        try:
            if not jobs.give_back(uow, job):
                log.warning("job %s (%s): not given back; done or another worker's", job.id,
                            job.kind)
            return
        except Unavailable:
            if turns.stop.wait(turns.pause):
                log.warning("job %s (%s): stopped during an outage; left to its lease",
                            job.id, job.kind)
                return


def _describe(exc: BaseException) -> str:
    """What a person reading the job's last_error needs: the error, then where it happened."""
    return f"{type(exc).__name__}: {exc}\n\n" + "".join(traceback.format_exception(exc))


def _sleep_seconds(due: object, poll: float) -> float:
    if not isinstance(due, datetime):
        return poll
    return min(poll, max(MIN_SLEEP_SECONDS, (due - clock.real_now()).total_seconds()))
