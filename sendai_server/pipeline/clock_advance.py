"""An advance of a team's clock (docs/clock.md): the time in between played out, in the request.

Under the clock's lease (services/team_clock.py: two advances of a team never interleave), the
team's jobs due by the target run one at a time, in due order, each at its own moment: the
clock's `now` is set to the job's due time (or stays, for one due before it), and the job runs
there (clock.frozen_at) with the worker's own handlers (`worker.run_job`): the pipeline's
steps, and deliveries sent over HTTP to their receivers. What a job schedules by the target (a
retry after a failed delivery, the next notification, a step's follow-up) is due by then too,
and runs in its turn. Past `MAX_JOBS_PER_ADVANCE` jobs the clock stops at the last one run and
the answer says `"settled": false`; otherwise it stands at the target.

Workers of every host leave the team's jobs alone meanwhile (jobs.NOT_FROZEN): the clock is
frozen. A job a worker took before the clock stopped is waited for, to keep the due order.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..config import Config
from ..domain import clock
from ..domain.errors import NotFound, Unavailable
from ..services import team_clock
from ..store.uow import UnitOfWork
from .deliveries import lease_seconds
from .worker import Handler, run_job

# How long an advance waits for a job a worker took before the clock stopped (its lease
# bounds it too), and how often it looks.
WORKER_WAIT_SECONDS = 120.0
_POLL_SECONDS = 0.02
_TICK = timedelta(microseconds=1)


def advance(uow: UnitOfWork, team_id: str, handlers: Mapping[str, Handler], config: Config,
            *, seconds: float | None = None, to: datetime | None = None) -> dict[str, Any]:
    """Move the team's frozen clock by `seconds` or `to` a time, and run what falls due by
    then: the clock object, with `ran` ([{kind, due_at, subject, outcome}], in the order they
    ran) and `settled`. 404 when the clock is not frozen; 400 for a bad target (nothing
    changed)."""
    held = team_clock.hold(uow, team_id)
    if held is None:
        raise NotFound(f"Team {team_id[:64]}'s clock is not frozen: freeze it first.")
    # The last change made on the clock: its now, and a microsecond per change since
    # (services/team_clock.tick). A job runs at its due time, or just after the last change
    # when that is later (several jobs due at one moment keep their order in time).
    last, final = held.now + timedelta(microseconds=held.ticks), None
    base = held.now  # the clock's own time, without those microseconds
    ran: list[dict[str, Any]] = []
    settled = True
    lease = max(config.job_lease_seconds, lease_seconds(config))
    try:
        target = team_clock.check_target(held, seconds, to)
        _wait_for_workers(uow, team_id, target)
        while True:
            if len(ran) >= team_clock.MAX_JOBS_PER_ADVANCE:
                settled = not team_clock.has_due(uow, team_id, target)
                break
            taken = team_clock.take_next(uow, team_id, target, lease)
            if taken is None:
                break
            base = max(taken.due_at, base)
            last = max(base, last + _TICK)
            if not team_clock.move(uow, held, last):
                raise Unavailable(f"Team {team_id}'s clock was resumed during the advance.")
            with clock.frozen_at(last, last - base):
                handler = handlers.get(taken.job.kind)
                if handler is None:  # no handler here: left for the person it concerns
                    raise Unavailable(f"No handler for jobs of kind {taken.job.kind!r}.")
                run_job(uow, taken.job, handler)
                outcome = team_clock.after_run(uow, taken.job)
            ran.append({"kind": taken.job.kind, "due_at": taken.due_at,
                        "subject": taken.subject, "outcome": outcome})
        final = target if settled else last
    finally:  # also after a failure: the clock stays where the last job ran
        end = final if final is not None else last if ran else held.now
        # Never behind a change made already (a job run a microsecond past the target).
        team_clock.release(uow, held, now=max(end, last) if ran else end,
                           advanced_seconds=held.advanced_seconds
                           + (end - held.now).total_seconds())
    return {**team_clock.read_clock(uow, team_id), "ran": ran, "settled": settled}


def _wait_for_workers(uow: UnitOfWork, team_id: str, target: datetime) -> None:
    deadline = time.monotonic() + WORKER_WAIT_SECONDS
    while team_clock.held_by_workers(uow, team_id, target):
        if time.monotonic() > deadline:
            raise Unavailable(f"A worker still runs a job of team {team_id}; retry shortly.")
        time.sleep(_POLL_SECONDS)  # a worker's job, taken before the clock stopped, ends
