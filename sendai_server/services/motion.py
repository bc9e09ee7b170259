"""What the pipeline will still move by itself: the inspector's lists refresh only while
something on them will change without a person (docs/inspector.md).

A PROCESSING task moves only through a job: its extraction, or the `auto_complete` after a
complete, written in the same transaction that made it PROCESSING (jobs.py). A task
without one (a `manual` project's, the seed's PROCESSING task, a task whose job was given up
after `MAX_ATTEMPTS` claims) stays where it is until someone moves it, so a page that reloads
while waiting for it would reload for ever.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from ..store.jobs import MAX_ATTEMPTS
from ..store.models import Job, Task
from ..store.uow import UnitOfWork


def tasks_in_motion(uow: UnitOfWork, task_ids: Collection[str]) -> set[str]:
    """Those of `task_ids` that a job not given up will still act on."""
    if not task_ids:
        return set()
    with uow.read() as conn:
        return set(conn.scalars(
            select(Job.task_id).distinct()
            .where(Job.task_id.in_(list(task_ids)), Job.attempts < MAX_ATTEMPTS)
        ))


def uploads_in_motion(uow: UnitOfWork, upload_ids: Collection[str]) -> set[str]:
    """Those of `upload_ids` one of whose tasks a job not given up will still act on."""
    if not upload_ids:
        return set()
    with uow.read() as conn:
        return set(conn.scalars(
            select(Task.upload_id).distinct().join(Job, Job.task_id == Task.id)
            .where(Task.upload_id.in_(list(upload_ids)), Job.attempts < MAX_ATTEMPTS)
        ))
