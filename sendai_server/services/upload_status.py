"""An upload's status, derived from its tasks (API.md §9), and its settling after each task
change: `updated_at`, and the move from Inbox to Processed once it is COMPLETED, unless a
person moved it before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, exists, literal, select, update

from ..lifecycle import TaskStatus
from ..models import Folder, Task, Upload
from ..statements import Statement
from .projects import INBOX, PROCESSED

UPLOAD_STATUSES = ("PROCESSING", "IN_REVIEW", "COMPLETED")


def _task_exists(upload_id: Any, status: TaskStatus) -> Any:
    return exists().where(Task.upload_id == upload_id, Task.status == status)


def status_of(upload_id: Any) -> Any:
    """An upload's status, from its tasks (API.md §9), as SQL."""
    return case(
        (_task_exists(upload_id, TaskStatus.PROCESSING), literal("PROCESSING")),
        (_task_exists(upload_id, TaskStatus.REVIEWING), literal("IN_REVIEW")),
        else_=literal("COMPLETED"),
    )


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
                status_of(Upload.id) == "COMPLETED",
            ), _PROCESSED_OF_UPLOAD),
            else_=Upload.folder_id,
        ),
    )
)


def settle_upload(conn: Connection, upload_id: str, now: datetime) -> None:
    SETTLE_UPLOAD.execute(conn, {"upload_id": upload_id, "now": now})
