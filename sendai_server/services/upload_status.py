"""An upload's status, derived from its tasks (docs/api/uploads.md), and its settling after each
task change: `updated_at`, and the move from Inbox to Processed once it is done (COMPLETED, PARTIAL
or FAILED), unless a person moved it before."""

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
    not_,
    select,
    update,
)

from ..domain.lifecycle import TaskStatus
from ..domain.statuses import (
    UPLOAD_RULE_EVERY_STATUSES,
    UPLOAD_RULE_TASK_STATUSES,
    UPLOAD_STATUS_OTHERWISE,
    UPLOAD_STATUS_RULES,
    UPLOAD_STATUSES_DONE,
    UploadStatus,
    UploadStatusRule,
    upload_status,
)
from ..store.models import Connector, Folder, Task, Upload
from ..store.statements import Statement
from .projects import INBOX, PROCESSED


def _task_exists(upload_id: Any, status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == upload_id, Task.status == status)


def _rule_matches(upload_id: Any, rule: UploadStatusRule) -> Any:
    found = _task_exists(upload_id, rule.task_status)
    if not rule.every:
        return found
    return and_(found, not_(exists().where(Task.upload_id == upload_id,
                                           Task.status != rule.task_status)))


def status_of(upload_id: Any) -> Any:
    """An upload's status, from its tasks (docs/api/uploads.md), as SQL: statuses.py's rule."""
    return case(
        *((_rule_matches(upload_id, rule), literal(rule.upload_status.value))
          for rule in UPLOAD_STATUS_RULES),
        else_=literal(UPLOAD_STATUS_OTHERWISE.value),
    )


# The updated row's columns as RETURNING's subqueries must name them. SQLite's compiler writes
# RETURNING's columns without their table, subqueries' included, and there a bare `id` inside
# `FROM task` is the task's own id: the correlation would be lost without a word.
_UPDATED_ID: Any = literal_column(f"{Upload.__tablename__}.id")
_UPDATED_PROJECT_ID: Any = literal_column(f"{Upload.__tablename__}.project_id")


def _other_task_exists(status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == _UPDATED_ID, Task.status == status,
                          Task.id != bindparam("task_id"))


def _other_task_not_in(status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == _UPDATED_ID, Task.status != status,
                          Task.id != bindparam("task_id"))


# In the write of every change to a task's status: the upload's updated_at, and its move from
# Inbox to Processed once it is done, unless a person moved it before.
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
                status_of(Upload.id).in_([literal(s.value) for s in sorted(UPLOAD_STATUSES_DONE)]),
            ), _PROCESSED_OF_UPLOAD),
            else_=Upload.folder_id,
        ),
    )
    # What the outbox needs, in the same round trip (services/notifications.py): whether the
    # project has connectors at all and, if so, what the upload's other tasks are doing.
    .returning(
        exists().where(Connector.project_id == _UPDATED_PROJECT_ID),
        *(_other_task_exists(task_status) for task_status in UPLOAD_RULE_TASK_STATUSES),
        *(_other_task_not_in(task_status) for task_status in UPLOAD_RULE_EVERY_STATUSES),
    )
)


@dataclass(frozen=True)
class Settled:
    """After a task's status changed: whether its project has connectors, the statuses of
    statuses.py's rule (PROCESSING, REVIEWING, FAILED) that another task of its upload is in,
    and those of its `every` rows (FAILED) that another task is not in (so the upload's status
    before and after the change follow from the task's two statuses)."""

    has_connectors: bool
    others_in: frozenset[TaskStatus] = frozenset()
    others_not_in: frozenset[TaskStatus] = frozenset()

    def upload_status(self, task_status: TaskStatus) -> UploadStatus:
        """The upload's status (docs/api/uploads.md) with this task in `task_status`."""
        return upload_status(lambda s: s in self.others_in or s == task_status,
                             lambda s: s in self.others_not_in or s != task_status)


def settle_upload(conn: Connection, upload_id: str, task_id: str, now: datetime) -> Settled:
    """In the write of a change to `task_id`'s status: its upload's updated_at, its move to
    Processed; and what the outbox needs to know (one statement)."""
    rows = SETTLE_UPLOAD.rows(conn, {"upload_id": upload_id, "task_id": task_id, "now": now})
    if not rows:
        return Settled(False)
    has_connectors, *others = rows[0]
    asked = len(UPLOAD_RULE_TASK_STATUSES)
    return Settled(
        bool(has_connectors),
        frozenset(s for s, other in zip(UPLOAD_RULE_TASK_STATUSES, others[:asked], strict=True)
                  if other),
        frozenset(s for s, other in zip(UPLOAD_RULE_EVERY_STATUSES, others[asked:], strict=True)
                  if other))
