"""What a finished test leaves behind on the pytest plugin's server (sendai_server/testing):
the jobs of its projects, which must not keep the session's one worker from the next test's.

A job the worker holds (leased) is never deleted under it: the caller asks again once it is
done (`LeftoverJobs.held`), so what that job queues is dropped too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Connection, case, delete, func, or_, select

from ..domain import clock
from ..domain.job_kinds import DELIVER
from ..store.models import Connector, Job, Notification, Task
from ..store.uow import UnitOfWork


@dataclass(frozen=True)
class LeftoverJobs:
    dropped: int
    """How many waiting jobs were deleted."""
    held: bool
    """Whether the worker is running one of these projects' jobs (which were left alone)."""


def drop_waiting_jobs(uow: UnitOfWork, project_ids: Sequence[str]) -> LeftoverJobs:
    """Delete, in one transaction, the waiting jobs of these projects' tasks and the waiting
    deliveries of their notifications. When the worker holds none of them, also delete the
    projects' connectors (their notifications go with them): then nothing delivers to them
    again, and nothing queues a next delivery."""
    ids = list(project_ids)
    if not ids:
        return LeftoverJobs(0, False)
    free = or_(Job.leased_until.is_(None), Job.leased_until <= clock.real_now())  # a lease
    with uow.write() as conn:
        dropped, held = _drop_task_jobs(conn, ids, free)
        gone, held_delivery = _drop_deliveries(conn, ids, free)
        held = held or held_delivery
        if not held:
            conn.execute(delete(Connector).where(Connector.project_id.in_(ids)))
    return LeftoverJobs(dropped + gone, held)


def _drop_task_jobs(conn: Connection, ids: list[str],
                    free: ColumnElement[bool]) -> tuple[int, bool]:
    theirs = Job.task_id.in_(select(Task.id).where(Task.project_id.in_(ids)))
    dropped = conn.execute(delete(Job).where(theirs, free)).rowcount
    held = (conn.scalar(select(func.count()).select_from(Job).where(theirs)) or 0) > 0
    return dropped, held


def _drop_deliveries(conn: Connection, ids: list[str],
                     free: ColumnElement[bool]) -> tuple[int, bool]:
    # A delivery names its notification in its payload (JSON, read here in Python).
    seqs = set(conn.scalars(select(Notification.seq).where(Notification.project_id.in_(ids))))
    if not seqs:
        return 0, False
    deliveries = [(job_id, is_free) for job_id, payload, is_free in conn.execute(
        select(Job.id, Job.payload, case((free, True), else_=False))
        .where(Job.kind == DELIVER))
        if (payload or {}).get("notification") in seqs]
    free_ids = [job_id for job_id, is_free in deliveries if is_free]
    dropped = conn.execute(delete(Job).where(Job.id.in_(free_ids))).rowcount if free_ids else 0
    return dropped, len(free_ids) < len(deliveries)


def still_held(uow: UnitOfWork, project_ids: Sequence[str]) -> bool:
    """Whether the worker still holds a job of these projects (a task's, or a delivery of one
    of their notifications): a read, for a caller waiting to call `drop_waiting_jobs` again."""
    ids = list(project_ids)
    with uow.read() as conn:
        held = conn.execute(select(Job.task_id, Job.kind, Job.payload)
                            .where(Job.leased_until > clock.real_now())).all()
        if not held:
            return False
        tasks = [row.task_id for row in held if row.task_id is not None]
        if tasks and conn.scalar(select(func.count()).select_from(Task).where(
                Task.id.in_(tasks), Task.project_id.in_(ids))):
            return True
        seqs = [(row.payload or {}).get("notification") for row in held if row.kind == DELIVER]
        seqs = [seq for seq in seqs if seq is not None]
        return bool(seqs) and bool(conn.scalar(select(func.count()).select_from(Notification)
                                               .where(Notification.seq.in_(seqs),
                                                      Notification.project_id.in_(ids))))
