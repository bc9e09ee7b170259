"""An upload's status, derived from its tasks (API.md §9), and its settling after each task
change: `updated_at`, and the move from Inbox to Processed once it is COMPLETED, PARTIAL or
FAILED, unless a person moved it before."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    exists,
    literal,
    literal_column,
    select,
    update,
)

from ..lifecycle import TaskStatus
from ..models import Connector, Folder, Task, Upload
from ..statements import Statement
from .projects import INBOX, PROCESSED

UPLOAD_STATUSES = ("PROCESSING", "IN_REVIEW", "COMPLETED", "PARTIAL", "FAILED")
# The statuses an upload is done in: it moves to Processed, and `upload.processed` is sent.
PROCESSED_STATUSES = ("COMPLETED", "PARTIAL", "FAILED")


def _task_exists(upload_id: Any, status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == upload_id, Task.status == status)


def status_of(upload_id: Any) -> Any:
    """An upload's status, from its tasks (API.md §9), as SQL."""
    return case(
        (_task_exists(upload_id, TaskStatus.PROCESSING), literal("PROCESSING")),
        (_task_exists(upload_id, TaskStatus.REVIEWING), literal("IN_REVIEW")),
        (_task_exists(upload_id, TaskStatus.FAILED), case(
            (exists().where(Task.upload_id == upload_id, Task.status != TaskStatus.FAILED),
             literal("PARTIAL")),
            else_=literal("FAILED"))),
        else_=literal("COMPLETED"),
    )


# The updated row's columns as RETURNING's subqueries must name them. SQLite's compiler writes
# RETURNING's columns without their table, subqueries' included, and there a bare `id` inside
# `FROM task` is the task's own id: the correlation would be lost without a word.
_UPDATED_ID: Any = literal_column(f"{Upload.__tablename__}.id")
_UPDATED_PROJECT_ID: Any = literal_column(f"{Upload.__tablename__}.project_id")


def _other_task_exists(status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == _UPDATED_ID, Task.status == status,
                          Task.id != bindparam("task_id"))


# In the write of every change to a task's status: the upload's updated_at, and its move from
# Inbox to Processed once it is COMPLETED, unless a person moved it before.
_INBOX_OF_UPLOAD = (
    select(Folder.id).where(Folder.project_id == Upload.project_id, Folder.name == INBOX)
    .scalar_subquery()
)
_PROCESSED_OF_UPLOAD = (
    select(Folder.id).where(Folder.project_id == Upload.project_id, Folder.name == PROCESSED)
    .scalar_subquery()
)
SETTLE_UPLOAD = Statement(
    update(Upload)
    .where(Upload.id == bindparam("upload_id"))
    .values(
        updated_at=bindparam("now", type_=Upload.__table__.c.updated_at.type),
        folder_id=case(
            (and_(
                Upload.moved_at.is_(None),
                Upload.folder_id == _INBOX_OF_UPLOAD,
                # literals, not an expanding IN: the statement is compiled once (Statement)
                status_of(Upload.id).in_([literal(s) for s in PROCESSED_STATUSES]),
            ), _PROCESSED_OF_UPLOAD),
            else_=Upload.folder_id,
        ),
    )
    # What the outbox needs, in the same round trip (services/notifications.py): whether the
    # project has connectors at all and, if so, what the upload's other tasks are doing.
    .returning(
        exists().where(Connector.project_id == _UPDATED_PROJECT_ID),
        _other_task_exists(TaskStatus.PROCESSING),
        _other_task_exists(TaskStatus.REVIEWING),
        _other_task_exists(TaskStatus.FAILED),
        exists().where(Task.upload_id == _UPDATED_ID, Task.status != TaskStatus.FAILED,
                       Task.id != bindparam("task_id")),
    )
)


@dataclass(frozen=True)
class Settled:
    """After a task's status changed: whether its project has connectors, and whether any
    other task of its upload is PROCESSING or REVIEWING (so the upload's status before and
    after the change follow from the task's two statuses)."""

    has_connectors: bool
    others_processing: bool
    others_reviewing: bool
    others_failed: bool = False
    others_not_failed: bool = False

    def upload_status(self, task_status: TaskStatus) -> str:
        """The upload's status (API.md §9) with this task in `task_status`."""
        if self.others_processing or task_status == TaskStatus.PROCESSING:
            return "PROCESSING"
        if self.others_reviewing or task_status == TaskStatus.REVIEWING:
            return "IN_REVIEW"
        return _done_status(self, task_status)


def settle_upload(conn: Connection, upload_id: str, task_id: str, now: datetime) -> Settled:
    """In the write of a change to `task_id`'s status: its upload's updated_at, its move to
    Processed; and what the outbox needs to know (one statement)."""
    rows = SETTLE_UPLOAD.rows(conn, {"upload_id": upload_id, "task_id": task_id, "now": now})
    if not rows:
        return Settled(False, False, False)
    return Settled(*(bool(value) for value in rows[0]))


def _done_status(settled: Settled, task_status: TaskStatus) -> str:
    """Every task done: FAILED when all failed, PARTIAL when some did (API.md §9)."""
    if task_status == TaskStatus.FAILED and not settled.others_not_failed:
        return "FAILED"
    if task_status == TaskStatus.FAILED or settled.others_failed:
        return "PARTIAL"
    return "COMPLETED"
