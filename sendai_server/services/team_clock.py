"""A team's clock in the database (docs/clock.md): freeze, read, resume, and the pieces an
advance is made of (pipeline/clock_advance.py plays the jobs).

The clock is the team's `team_clock` row: while it exists the team's time is its `now`
(clock.py carries it through a request or a job), and no worker claims the team's jobs
(jobs.NOT_FROZEN). Its `advancing_until`/`advancing_token` are a lease: the one freeze,
advance or resume of the team at work, taken by a conditional UPDATE (one write, so on SQLite
under BEGIN IMMEDIATE and on PostgreSQL under the row's lock) and renewed before each job an
advance runs; the next one waits for it. A lease rather than a transaction held open: an
advance's jobs write in transactions of their own (on SQLite a held write would lock them
out), and the clock's `now` moves with each job, where a request of the team meanwhile (a
receiver calling back) must read it.

Leases are real time (clock.real_now); the clock's own times are the team's.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain import clock
from ..domain.errors import NotFound, Unavailable, ValidationError
from ..store import jobs
from ..store.jobs import JOB, MAX_ATTEMPTS, ClaimedJob
from ..store.models import Notification, Task, TeamClock
from ..store.uow import UnitOfWork

# The furthest one advance moves the clock, and the most jobs it runs.
MAX_ADVANCE = timedelta(days=366)
MAX_JOBS_PER_ADVANCE = 10_000
# How long the lease of a freeze, advance or resume lasts without renewal (an advance renews
# it before every job, each of which ends within its own lease).
LEASE_SECONDS = 120.0
# How long a second advance (or a freeze, a resume) waits for the one at work, and how often
# it looks. Past that: 503, retry.
WAIT_SECONDS = 600.0
POLL_SECONDS = 0.02
# How far past a time the clock may stand for the microseconds that order changes.
_ORDERING_SLACK = timedelta(milliseconds=1)
# What `pending` lists at most.
PENDING_SHOWN = 1000

_CLOCK = TeamClock.__table__


def _not_frozen(team_id: str) -> NotFound:
    return NotFound(f"Team {team_id[:64]}'s clock is not frozen: it runs on real time.")


# --- reading ---------------------------------------------------------------------------------

def read_clock(uow: UnitOfWork, team_id: str) -> dict[str, Any]:
    """The clock object: {team_id, now, frozen_at, advanced_seconds, pending}. 404 when the
    team runs on real time."""
    with uow.read() as conn:
        row = conn.execute(select(_CLOCK).where(_CLOCK.c.team_id == team_id)).first()
        if row is None:
            raise _not_frozen(team_id)
        return {"team_id": team_id, "now": row.now, "frozen_at": row.frozen_at,
                "advanced_seconds": row.advanced_seconds, "pending": pending(conn, team_id)}


def pending(conn: Connection, team_id: str, limit: int = PENDING_SHOWN) -> list[dict[str, Any]]:
    """The team's jobs waiting to run, in the order an advance would run them."""
    rows = conn.execute(
        select(JOB.c.id, JOB.c.kind, JOB.c.run_at, JOB.c.task_id, JOB.c.payload)
        .where(JOB.c.team_id == team_id, JOB.c.attempts < MAX_ATTEMPTS)
        .order_by(JOB.c.run_at, JOB.c.id).limit(limit)
    ).all()
    subjects = subjects_of(conn, rows)
    return [{"kind": r.kind, "due_at": r.run_at, "subject": subjects[r.id]} for r in rows]


def subjects_of(conn: Connection, rows: Any) -> dict[int, str | None]:
    """What each job is about: its task, or its notification's event id (`evt_...`)."""
    seqs = {r.id: int(r.payload["notification"]) for r in rows
            if r.task_id is None and r.payload and "notification" in r.payload}
    ids = dict(conn.execute(
        select(Notification.seq, Notification.id).where(Notification.seq.in_(set(seqs.values())))
    ).all()) if seqs else {}
    return {r.id: r.task_id if r.task_id is not None else ids.get(seqs.get(r.id, -1))
            for r in rows}


def tick(uow: UnitOfWork, team_id: str) -> tuple[datetime, timedelta] | None:
    """The moment of a change a frozen team's request makes, and how far it is past the
    clock's now: one microsecond per change since the clock was set, so lists sorted by time
    keep the order the changes were made in (clock.frozen_at's `offset`). None when the
    clock was resumed meanwhile."""
    with uow.write() as conn:
        row = conn.execute(
            update(TeamClock).where(TeamClock.team_id == team_id)
            .values(ticks=TeamClock.ticks + 1).returning(TeamClock.now, TeamClock.ticks)
        ).first()
    if row is None:
        return None
    offset = timedelta(microseconds=row.ticks)
    return row.now + offset, offset


# --- the lease -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Held:
    """A team's clock under this caller's lease."""

    team_id: str
    token: str
    now: datetime
    frozen_at: datetime
    advanced_seconds: float
    ticks: int = 0


def _take(conn: Connection, team_id: str, token: str) -> bool:
    real = clock.real_now()
    taken = conn.execute(
        update(TeamClock)
        .where(TeamClock.team_id == team_id,
               (TeamClock.advancing_until.is_(None)) | (TeamClock.advancing_until <= real))
        .values(advancing_token=token,
                advancing_until=real + timedelta(seconds=LEASE_SECONDS))
    )
    return taken.rowcount == 1


def hold(uow: UnitOfWork, team_id: str, *, create_at: datetime | None = None) -> Held | None:
    """Take the lease of the team's clock, waiting for the one at work. None when the team
    runs on real time (with `create_at`: the clock is made frozen there, and held)."""
    token = secrets.token_hex(16)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            with uow.write() as conn:
                exists = conn.scalar(select(TeamClock.team_id)
                                     .where(TeamClock.team_id == team_id))
                if exists is None:
                    if create_at is None:
                        return None
                    conn.execute(insert(TeamClock).values(
                        team_id=team_id, now=create_at, frozen_at=create_at,
                        advanced_seconds=0.0, advancing_token=token,
                        advancing_until=clock.real_now() + timedelta(seconds=LEASE_SECONDS)))
                    return Held(team_id, token, create_at, create_at, 0.0)
                if _take(conn, team_id, token):
                    row = conn.execute(select(_CLOCK).where(_CLOCK.c.team_id == team_id)).one()
                    return Held(team_id, token, row.now, row.frozen_at, row.advanced_seconds,
                            row.ticks)
        except IntegrityError:  # another freeze made the clock first (PostgreSQL): take it
            continue
        if time.monotonic() > deadline:
            raise Unavailable(f"Team {team_id}'s clock is still being advanced; retry later.",
                              headers={"Retry-After": "5"})
        time.sleep(POLL_SECONDS)  # another advance of the team runs: its jobs take their time


def move(uow: UnitOfWork, held: Held, now: datetime) -> bool:
    """Set the held clock's `now` and renew the lease; False when the lease was lost (the
    clock was resumed, or the lease ran out and another took it)."""
    with uow.write() as conn:
        moved = conn.execute(
            update(TeamClock)
            .where(TeamClock.team_id == held.team_id, TeamClock.advancing_token == held.token)
            .values(now=now, ticks=0,
                    advancing_until=clock.real_now() + timedelta(seconds=LEASE_SECONDS))
        )
    return moved.rowcount == 1


def release(uow: UnitOfWork, held: Held, now: datetime | None = None,
            advanced_seconds: float | None = None) -> None:
    """Give the lease back, with the clock at `now` when given."""
    values: dict[str, Any] = {"advancing_until": None, "advancing_token": None}
    if now is not None and now != held.now:
        values.update(now=now, ticks=0)
    if advanced_seconds is not None:
        values["advanced_seconds"] = advanced_seconds
    with uow.write() as conn:
        conn.execute(update(TeamClock).where(TeamClock.team_id == held.team_id,
                                             TeamClock.advancing_token == held.token)
                     .values(**values))


# --- freeze and resume -----------------------------------------------------------------------

def freeze(uow: UnitOfWork, team_id: str, frozen_at: datetime | None = None) -> dict[str, Any]:
    """Stop the team's time at `frozen_at` (default: the real now, to the second). A frozen
    clock is set there anew (a new start: `advanced_seconds` 0; what is pending stays)."""
    at = frozen_at if frozen_at is not None else clock.real_now().replace(microsecond=0)
    held = hold(uow, team_id, create_at=at)
    assert held is not None
    with uow.write() as conn:
        conn.execute(update(TeamClock).where(TeamClock.team_id == team_id,
                                             TeamClock.advancing_token == held.token)
                     .values(now=at, frozen_at=at, advanced_seconds=0.0, ticks=0,
                             advancing_until=None, advancing_token=None))
    return read_clock(uow, team_id)


def resume(uow: UnitOfWork, team_id: str) -> None:
    """The team back on real time (404 when it is on it already). Each waiting job keeps the
    wait it had left on the clock, or runs at once when real time has passed its due time
    already: due at min(due, real now + max(0, due - clock now)). The workers take them."""
    held = hold(uow, team_id)
    if held is None:
        raise _not_frozen(team_id)
    real = clock.real_now()
    with uow.write() as conn:
        rows = conn.execute(select(JOB.c.id, JOB.c.run_at).where(JOB.c.team_id == team_id)).all()
        for row in rows:
            left = max(timedelta(0), row.run_at - held.now)
            due = min(row.run_at, real + left)
            if due != row.run_at:
                conn.execute(update(JOB).where(JOB.c.id == row.id).values(run_at=due))
        conn.execute(delete(TeamClock).where(TeamClock.team_id == team_id,
                                             TeamClock.advancing_token == held.token))


# --- an advance's pieces ---------------------------------------------------------------------

def check_target(held: Held, seconds: float | None, to: datetime | None) -> datetime:
    """Where an advance goes: `seconds` after the clock's now, or `to`; 400 naming the field
    for both, neither, backwards, or further than 366 days."""
    if (seconds is None) == (to is None):
        raise ValidationError("Send either 'seconds' or 'to', not both and not neither.",
                              details={"fields": {"seconds": ["Send 'seconds' or 'to'."],
                                                  "to": ["Send 'seconds' or 'to'."]}})
    field = "seconds" if seconds is not None else "to"
    if seconds is not None:
        if seconds < 0:
            raise _bad(field, "The clock does not go backwards: seconds must be 0 or more.")
        if seconds > MAX_ADVANCE.total_seconds():
            raise _bad(field, "At most 366 days (31622400 seconds) per advance.")
        return held.now + timedelta(seconds=seconds)
    assert to is not None
    if to.tzinfo is None:
        to = to.replace(tzinfo=UTC)
    # The clock may stand microseconds past a time it was advanced to (jobs due at one
    # moment run a microsecond apart, to keep their order): that time is not "backwards".
    if to < held.now - _ORDERING_SLACK:
        raise _bad(field, f"The clock does not go backwards: it stands at "
                          f"{held.now:%Y-%m-%dT%H:%M:%SZ}.")
    if to - held.now > MAX_ADVANCE:
        raise _bad(field, "At most 366 days ahead of the clock's now per advance.")
    return max(to, held.now)


def _bad(field: str, message: str) -> ValidationError:
    return ValidationError(message, details={"fields": {field: [message]}})


def held_by_workers(uow: UnitOfWork, team_id: str, until: datetime) -> bool:
    """Whether a job of the team due by `until` is leased by a worker right now (one it took
    before the clock stopped): an advance waits for it, to run everything in due order."""
    real = clock.real_now()
    with uow.read() as conn:
        return conn.scalar(select(JOB.c.id).where(
            JOB.c.team_id == team_id, JOB.c.run_at <= until, JOB.c.leased_until > real,
            JOB.c.attempts < MAX_ATTEMPTS).limit(1)) is not None


def has_due(uow: UnitOfWork, team_id: str, until: datetime) -> bool:
    """Whether a job of the team is due by `until` (past an advance's cap: not settled)."""
    with uow.read() as conn:
        return conn.scalar(select(JOB.c.id).where(
            JOB.c.team_id == team_id, JOB.c.run_at <= until,
            JOB.c.attempts < MAX_ATTEMPTS).limit(1)) is not None


@dataclass(frozen=True)
class TeamJob:
    job: ClaimedJob
    due_at: datetime
    subject: str | None


def take_next(uow: UnitOfWork, team_id: str, until: datetime,
              lease_seconds: float) -> TeamJob | None:
    """Lease the team's next job due by `until` (due order, then id), in a write of its own;
    None when none is due. Only an advance takes a frozen team's jobs, so no other worker
    competes for it (one left by a worker that died is due once its lease has run out)."""
    real = clock.real_now()
    token = f"{secrets.token_hex(8)}@clock"
    leased_until = real + timedelta(seconds=lease_seconds)
    with uow.write() as conn:
        row = conn.execute(
            select(JOB.c.id, JOB.c.kind, JOB.c.task_id, JOB.c.payload, JOB.c.attempts,
                   JOB.c.run_at)
            .where(JOB.c.team_id == team_id, JOB.c.run_at <= until,
                   (JOB.c.leased_until.is_(None)) | (JOB.c.leased_until <= real),
                   JOB.c.attempts < MAX_ATTEMPTS)
            .order_by(JOB.c.run_at, JOB.c.id).limit(1).with_for_update(skip_locked=True)
        ).first()
        if row is None:
            return None
        conn.execute(update(JOB).where(JOB.c.id == row.id).values(
            lease_token=token, leased_until=leased_until, attempts=JOB.c.attempts + 1))
        subject = subjects_of(conn, [row])[row.id]
    job = ClaimedJob(id=row.id, kind=row.kind, task_id=row.task_id, payload=row.payload,
                     attempts=row.attempts + 1, lease_token=token, leased_until=leased_until)
    return TeamJob(job, row.run_at, subject)


def after_run(uow: UnitOfWork, job: ClaimedJob) -> str:
    """What became of a job an advance ran: a pipeline step's task status after it
    (`REVIEWING`, `COMPLETED`, ...), a delivery's `delivered`, `retry` or `failed`; `retry`
    for a step due again after a failure, `failed` for one given up."""
    with uow.read() as conn:
        left = conn.execute(select(JOB.c.attempts).where(JOB.c.id == job.id)).first()
        if job.kind == jobs.DELIVER and job.payload and "notification" in job.payload:
            status = conn.scalar(select(Notification.status).where(
                Notification.seq == int(job.payload["notification"])))
            if status is None:
                return "gone"
            return "retry" if status == "pending" and left is not None else str(status)
        if left is not None:
            return "retry" if left.attempts < MAX_ATTEMPTS else "failed"
        if job.task_id is None:
            return "done"
        status = conn.scalar(select(Task.status).where(Task.id == job.task_id))
    return "gone" if status is None else str(getattr(status, "value", status))
