"""The statuses that are not a task's (lifecycle.TaskStatus): an upload's, derived from its
tasks (docs/api/uploads.md), and a notification's (docs/notifications.md). Each is an enum;
the API's schemas, the inspector's filters and the SQL derive theirs from it."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from .lifecycle import TaskStatus


class UploadStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"
    IN_REVIEW = "IN_REVIEW"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class UploadStatusRule:
    """The upload is `upload_status` while any of its tasks is `task_status` or, with `every`,
    while every one of them is (and there is one)."""

    task_status: TaskStatus
    upload_status: UploadStatus
    every: bool = False


# An upload's status from its tasks (docs/api/uploads.md), first match wins: PROCESSING while any
# task is, else IN_REVIEW while any task is REVIEWING, else FAILED when every task is FAILED, else
# PARTIAL when some are, else COMPLETED (UPLOAD_STATUS_OTHERWISE). The SQL
# (services/upload_status.status_of, its settling) and the Python (`upload_status`) both read
# this table.
UPLOAD_STATUS_RULES: tuple[UploadStatusRule, ...] = (
    UploadStatusRule(TaskStatus.PROCESSING, UploadStatus.PROCESSING),
    UploadStatusRule(TaskStatus.REVIEWING, UploadStatus.IN_REVIEW),
    UploadStatusRule(TaskStatus.FAILED, UploadStatus.FAILED, every=True),
    UploadStatusRule(TaskStatus.FAILED, UploadStatus.PARTIAL),
)
UPLOAD_STATUS_OTHERWISE = UploadStatus.COMPLETED
# The statuses of an upload still being worked on; in any other, every task is done: the
# upload moves from Inbox to Processed and `upload.processed` is sent (docs/api/uploads.md,
# docs/notifications.md).
UPLOAD_STATUSES_IN_PROGRESS = frozenset({UploadStatus.PROCESSING, UploadStatus.IN_REVIEW})
UPLOAD_STATUSES_DONE = frozenset(UploadStatus) - UPLOAD_STATUSES_IN_PROGRESS
# The task statuses the rule asks about: whether any task is in one, whether any is not.
UPLOAD_RULE_TASK_STATUSES = tuple(dict.fromkeys(r.task_status for r in UPLOAD_STATUS_RULES))
UPLOAD_RULE_EVERY_STATUSES = tuple(dict.fromkeys(
    r.task_status for r in UPLOAD_STATUS_RULES if r.every))


def upload_status(any_task_in: Callable[[TaskStatus], bool],
                  any_task_not_in: Callable[[TaskStatus], bool]) -> UploadStatus:
    """The upload's status, given whether any of its tasks is in a status, and whether any is
    in another one."""
    for rule in UPLOAD_STATUS_RULES:
        if any_task_in(rule.task_status) and not (
                rule.every and any_task_not_in(rule.task_status)):
            return rule.upload_status
    return UPLOAD_STATUS_OTHERWISE


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value
