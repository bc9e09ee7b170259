"""The statuses that are not a task's (lifecycle.TaskStatus): an upload's, derived from its
tasks (API.md §9), and a notification's (API.md §11). Each is an enum; the API's schemas, the
inspector's filters and the SQL derive theirs from it."""

from __future__ import annotations

import enum
from collections.abc import Callable

from .lifecycle import TaskStatus


class UploadStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"
    IN_REVIEW = "IN_REVIEW"
    COMPLETED = "COMPLETED"

    def __str__(self) -> str:
        return self.value


# An upload's status from its tasks, first match wins: PROCESSING while any task is, else
# IN_REVIEW while any task is REVIEWING, else COMPLETED (UPLOAD_STATUS_OTHERWISE). The SQL
# (services/upload_status.status_of) and the Python (`upload_status`) both read this table.
UPLOAD_STATUS_WHILE_ANY_TASK: tuple[tuple[TaskStatus, UploadStatus], ...] = (
    (TaskStatus.PROCESSING, UploadStatus.PROCESSING),
    (TaskStatus.REVIEWING, UploadStatus.IN_REVIEW),
)
UPLOAD_STATUS_OTHERWISE = UploadStatus.COMPLETED


def upload_status(any_task_in: Callable[[TaskStatus], bool]) -> UploadStatus:
    """The upload's status, given whether any of its tasks is in a status."""
    for task_status, status in UPLOAD_STATUS_WHILE_ANY_TASK:
        if any_task_in(task_status):
            return status
    return UPLOAD_STATUS_OTHERWISE


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value
