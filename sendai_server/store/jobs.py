"""The job queue (docs/pipeline.md): work for the pipeline's workers, kept in the `job` table.

Below the services, which enqueue jobs in the writes that need them, and the pipeline, whose
workers claim and finish them; job kinds are job_kinds.py's.

A job is written by `enqueue`, inside the write of the change that needs it, so the two commit
together or not at all. A worker takes one with `claim`, which leases it in a short write of its
own: a fresh random `lease_token`, `leased_until` = now + the lease, `attempts` + 1. On
PostgreSQL the claim picks its row with `SELECT ... FOR UPDATE SKIP LOCKED`, so any number of
workers on any number of hosts never take the same job; on SQLite the write lock (BEGIN
IMMEDIATE behind the writer queue) serializes claimers.

The worker's handler then writes the job's effect and calls `finish` in ONE write: `finish`
deletes the job only while this worker still holds its lease, and raises `LeaseLost` otherwise
(the lease ran out and another worker took the job), which rolls the effect back. So a job's
effect commits once. A worker that dies mid-job leaves its lease to run out; the job is then
due again. A handler that fails calls `fail`: the error is recorded and the job is due again
after a backoff, until `MAX_ATTEMPTS` claims, after which it stays in the table with its
`last_error` for a person to look at (no worker claims it again).

Times are the workers' clocks (UTC): hosts sharing a database are expected to keep them in sync
(NTP); a skew only moves when a job or an expired lease is seen as due. Leases are real time;
when a job is due is its team's time (clock.py): a job knows its team (`team_id`, found by
`enqueue` in its own INSERT), and `claim` and `next_due` pass over the jobs of a team whose
clock is frozen (a `team_clock` row): those only an advance runs (docs/clock.md).
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Table,
    case,
    delete,
    func,
    insert,
    select,
    type_coerce,
    update,
)

from ..config import JOB_MAX_ATTEMPTS
from ..domain import clock
from ..domain.job_kinds import AUTO_COMPLETE, DELIVER, EXTRACT, JOB_KINDS
from .models import Job, Notification, Project, Task, TeamClock, UTCDateTime
from .uow import UnitOfWork

__all__ = ["AUTO_COMPLETE", "DELIVER", "EXTRACT", "JOB_KINDS", "ClaimedJob", "LeaseLost",
           "backoff_seconds", "claim", "enqueue", "fail", "finish", "give_back", "next_due",
           "retry_at"]

JOB: Table = Job.__table__  # type: ignore[assignment]

# Claims after which a failing job is left for a person (its last_error says why).
MAX_ATTEMPTS = JOB_MAX_ATTEMPTS
# Backoff after a failure: 1, 2, 4, ... seconds, at most this long.
BACKOFF_CAP_SECONDS = 300.0


class LeaseLost(Exception):
    """The job's lease ran out and another worker took it: this worker's effect must not
    commit (raised by `finish`, inside the effect's write, so the write rolls back)."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    task_id: str | None
    payload: Mapping[str, Any] | None
    attempts: int  # this claim included: 1 on the first run
    lease_token: str
    leased_until: datetime


def enqueue(
    conn: Connection,
    kind: str,
    *,
    task_id: str | None = None,
    payload: Mapping[str, Any] | None = None,
    run_at: datetime | None = None,
    team_id: str | None = None,
) -> int:
    """Add a job, due at `run_at` (default now), inside the caller's `uow.write()`: it commits
    with the change that needs it, or not at all. Returns the job's id. Its team is `team_id`,
    or found in the same statement from its task or its notification."""
    result = conn.execute(
        insert(JOB).values(
            kind=kind, task_id=task_id, payload=dict(payload) if payload is not None else None,
            run_at=clock.due(run_at or clock.now()), attempts=0, created_at=clock.now(),
            team_id=team_id if team_id is not None else _team_of(task_id, payload),
        )
    )
    job_id: int = result.inserted_primary_key[0]  # type: ignore[index]
    return job_id


def _team_of(task_id: str | None, payload: Mapping[str, Any] | None) -> Any:
    """The team of a job's task, or of its notification's project: a scalar subquery."""
    if task_id is not None:
        return (select(Project.team_id).join(Task, Task.project_id == Project.id)
                .where(Task.id == task_id).scalar_subquery())
    if payload is not None and "notification" in payload:
        return (select(Project.team_id)
                .join(Notification, Notification.project_id == Project.id)
                .where(Notification.seq == int(payload["notification"])).scalar_subquery())
    return None


# A frozen team's jobs are not the workers' (docs/clock.md). On the clock table's primary key:
# with no team frozen, an empty table's index is all it costs.
NOT_FROZEN = ~select(TeamClock.team_id).where(TeamClock.team_id == JOB.c.team_id).exists()


def _claimable(now: datetime, kinds: Collection[str] | None) -> list[Any]:
    conditions = [
        JOB.c.run_at <= now,
        (JOB.c.leased_until.is_(None)) | (JOB.c.leased_until <= now),
        JOB.c.attempts < MAX_ATTEMPTS,
        NOT_FROZEN,
    ]
    if kinds is not None:
        conditions.append(JOB.c.kind.in_(list(kinds)))
    return conditions


def claim(
    uow: UnitOfWork,
    worker_id: str,
    lease_seconds: float,
    kinds: Collection[str] | None = None,
) -> ClaimedJob | None:
    """Lease one due job (oldest `run_at` first) whose kind is in `kinds` (any kind when None),
    in a write of its own; None when no job is due. `worker_id` goes into the lease token, so a
    person looking at the table sees who holds a job."""
    if kinds is not None and not kinds:
        return None
    now = clock.real_now()  # a worker runs only teams on real time; its lease is real time too
    token = f"{secrets.token_hex(8)}@{worker_id}"[:64]
    leased_until = now + timedelta(seconds=lease_seconds)
    chosen = (
        select(JOB.c.id)
        .where(*_claimable(now, kinds))
        .order_by(JOB.c.run_at, JOB.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders nothing and needs none
        .scalar_subquery()
    )
    statement = (
        update(JOB)
        .where(JOB.c.id == chosen)
        .values(lease_token=token, leased_until=leased_until, attempts=JOB.c.attempts + 1)
        .returning(JOB.c.id, JOB.c.kind, JOB.c.task_id, JOB.c.payload, JOB.c.attempts)
    )
    with uow.write() as conn:
        row = conn.execute(statement).first()
    if row is None:
        return None
    return ClaimedJob(id=row.id, kind=row.kind, task_id=row.task_id, payload=row.payload,
                      attempts=row.attempts, lease_token=token, leased_until=leased_until)


def finish(conn: Connection, job: ClaimedJob) -> None:
    """Delete the job, inside the write that holds its effect. Raises `LeaseLost` when this
    worker no longer holds the job's lease, so that the effect rolls back with it.

    Call it first in the write: on PostgreSQL the deleted row then stays locked until the
    write ends, so no other worker can claim the job while the effect is being written."""
    deleted = conn.execute(
        delete(JOB).where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
    )
    if deleted.rowcount != 1:
        raise LeaseLost(f"job {job.id} ({job.kind}) was taken by another worker")


def backoff_seconds(
    attempts: int, first: float = 1.0, cap: float | None = BACKOFF_CAP_SECONDS
) -> float:
    """How long a job that failed on its `attempts`-th claim (or a delivery after its
    `attempts`-th attempt) waits: `first`, twice that, 4 times, ... seconds, at most `cap`."""
    delay = first * 2.0 ** max(0, attempts - 1)
    return float(delay if cap is None else min(cap, delay))


def fail(
    uow: UnitOfWork, job: ClaimedJob, error: str, retry_in: float | None = None
) -> datetime | None:
    """Record `error` on the job and release its lease, in a write of its own. The job is due
    again `retry_in` seconds from now (default: `backoff_seconds(job.attempts)`); after
    `MAX_ATTEMPTS` claims it is not claimed again, and stays with its error for a person.

    Returns when it runs again; None when it will not (given up, or the lease was lost and
    the job is another worker's now: its record is then left alone)."""
    delay = backoff_seconds(job.attempts) if retry_in is None else max(0.0, retry_in)
    run_at = clock.due(clock.now() + timedelta(seconds=delay))  # the team's time
    with uow.write() as conn:
        updated = conn.execute(
            update(JOB)
            .where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
            .values(last_error=error[:10_000], run_at=run_at, leased_until=None,
                    lease_token=None)
        )
    if updated.rowcount != 1 or job.attempts >= MAX_ATTEMPTS:
        return None
    return run_at


def give_back(uow: UnitOfWork, job: ClaimedJob) -> bool:
    """Release the job's lease as if this claim had not happened (its attempt not counted),
    due at once, in a write of its own: the database went away under the job, which is no
    failure of the job's. False when this worker no longer holds it (its effect committed
    before the connection was lost, or another worker took it): then nothing changes."""
    with uow.write() as conn:
        updated = conn.execute(
            update(JOB).where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
            .values(leased_until=None, lease_token=None, attempts=JOB.c.attempts - 1)
        )
    return bool(updated.rowcount == 1)


def next_due(conn: Connection, kinds: Collection[str] | None = None) -> datetime | None:
    """When the next job of these kinds can be claimed: its `run_at`, or the end of its lease
    when a worker holds it. None when there is none (a worker then sleeps its poll interval)."""
    due = case(
        (JOB.c.leased_until > JOB.c.run_at, JOB.c.leased_until), else_=JOB.c.run_at
    )
    query = select(type_coerce(func.min(due), UTCDateTime)).where(
        JOB.c.attempts < MAX_ATTEMPTS, NOT_FROZEN)
    if kinds is not None:
        if not kinds:
            return None
        query = query.where(JOB.c.kind.in_(list(kinds)))
    result: datetime | None = conn.execute(query).scalar_one()
    return result


def retry_at(conn: Connection, job: ClaimedJob, run_at: datetime) -> None:
    """Inside the write that records why (a delivery's failed attempt): release the job's
    lease and make it due again at `run_at`. Raises `LeaseLost`, as `finish` does, when
    this worker no longer holds it."""
    updated = conn.execute(
        update(JOB).where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
        .values(run_at=clock.due(run_at), leased_until=None, lease_token=None)
    )
    if updated.rowcount != 1:
        raise LeaseLost(f"job {job.id} ({job.kind}) was taken by another worker")


def postpone(conn: Connection, job: ClaimedJob, run_at: datetime,
             payload: Mapping[str, Any]) -> None:
    """Release the job's lease and make it due at `run_at` with `payload`, as if this claim had
    not happened (its attempts not counted): a delivery held by a fault (docs/failures.md). Raises
    `LeaseLost` when this worker no longer holds it."""
    updated = conn.execute(
        update(JOB).where(JOB.c.id == job.id, JOB.c.lease_token == job.lease_token)
        .values(run_at=clock.due(run_at), leased_until=None, lease_token=None,
                attempts=JOB.c.attempts - 1, payload=dict(payload))
    )
    if updated.rowcount != 1:
        raise LeaseLost(f"job {job.id} ({job.kind}) was taken by another worker")
