"""The one table of notification events (docs/notifications.md): what a connector subscribes to, the
payload's `event` and `event_level`, when a task's change fires it, and what a delivered or
failed one does to its task. The outbox (services/notifications.py), the deliveries
(pipeline/deliveries.py), the connectors' checks and the API's schemas all read it."""

from __future__ import annotations

from dataclasses import dataclass

from .lifecycle import PIPELINE_EVENTS, TaskStatus
from .statuses import UPLOAD_STATUSES_DONE, UploadStatus


@dataclass(frozen=True)
class NotificationEvent:
    subscription: str  # what a connector lists in its `events`
    event: str  # the payload's `event`
    level: str  # the payload's `event_level`: TASK carries the task, UPLOAD does not
    # When it fires: the task's status became `task_became`, or its upload's status became
    # one of `upload_became` (it was something else before the change).
    task_became: TaskStatus | None = None
    upload_became: frozenset[UploadStatus] = frozenset()
    # The task's lifecycle trigger once it is delivered, or has failed for good.
    on_delivered: str | None = None
    on_failed: str | None = None

    def fires(self, task_after: TaskStatus, upload_before: UploadStatus,
              upload_after: UploadStatus) -> bool:
        """Whether a change of a task's status (to `task_after`) sends it."""
        if self.task_became is not None:
            return task_after == self.task_became
        return upload_after != upload_before and upload_after in self.upload_became


# In the order one change sends them.
NOTIFICATION_EVENTS: tuple[NotificationEvent, ...] = (
    NotificationEvent("task.export", "TASK_EXPORT", "TASK", task_became=TaskStatus.COMPLETED,
                      on_delivered="export", on_failed="export_fail"),
    NotificationEvent("upload.in_review", "UPLOAD_IN_REVIEW", "UPLOAD",
                      upload_became=frozenset({UploadStatus.IN_REVIEW})),
    # COMPLETED, PARTIAL or FAILED: every task done (docs/notifications.md)
    NotificationEvent("upload.processed", "UPLOAD_PROCESSED", "UPLOAD",
                      upload_became=UPLOAD_STATUSES_DONE),
)
BY_SUBSCRIPTION = {e.subscription: e for e in NOTIFICATION_EVENTS}
BY_EVENT = {e.event: e for e in NOTIFICATION_EVENTS}
SUBSCRIPTIONS = tuple(BY_SUBSCRIPTION)

for _event in NOTIFICATION_EVENTS:  # a typo here would only show when a delivery ends
    for _trigger in (_event.on_delivered, _event.on_failed):
        if _trigger is not None and _trigger not in PIPELINE_EVENTS:
            raise ValueError(f"{_event.event}: {_trigger!r} is not a pipeline event")
