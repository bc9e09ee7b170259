"""A notification's payload, and sending it again (docs/notifications.md; the inspector's
notifications view, issue 21 item 7).

Sending again is one new attempt with the same body and the same event id (`X-Sendai-Event-Id`,
`webhook-id`: the receiver's idempotency key), numbered after the attempts already made: the
notification is `pending` again and its connector's queue delivers it in turn
(pipeline/deliveries.py), once: a 2xx makes it `delivered`, anything else `failed`, without a
new round of retries. A receiver that lost a delivery, or a failed one whose receiver has been
fixed, gets it this way; a `TASK_EXPORT` delivered now fires `export` on its task as the first
delivery would have.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select, update

from ..domain import clock
from ..domain.errors import NotFound, ValidationError
from ..domain.statuses import NotificationStatus
from ..store import jobs
from ..store.models import Connector, Notification, NotificationAttempt
from ..store.uow import UnitOfWork
from .keys import Principal


def notification_payloads(uow: UnitOfWork, principal: Principal, team_id: str,
                          project_id: str, ids: Collection[str]) -> dict[str, Any]:
    """The body each of the project's notifications `ids` sends, parsed, by id."""
    principal.check_visibility(team_id, project_id)
    if not ids:
        return {}
    with uow.read() as conn:
        rows = conn.execute(select(Notification.id, Notification.body).where(
            Notification.project_id == project_id, Notification.id.in_(list(ids))))
        return {row.id: json.loads(row.body) for row in rows}


def resend_notification(uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
                        notification_id: str) -> int:
    """Queue one more attempt of a delivered or failed notification; its number is returned.
    A notification still pending is refused (its next attempt is already queued)."""
    principal.check_visibility(team_id, project_id)
    with uow.write() as conn:
        found = conn.execute(select(Notification.seq, Notification.connector_id).where(
            Notification.project_id == project_id, Notification.id == notification_id)).first()
        if found is None:
            raise NotFound(f"Notification {notification_id} was not found.")
        # The connector's row first, as the outbox and deliveries lock them (no deadlock).
        disabled_at = conn.scalar(select(Connector.disabled_at)
                                  .where(Connector.id == found.connector_id).with_for_update())
        if disabled_at is not None:
            raise ValidationError(f"Notification {notification_id}'s connector was disabled by "
                                  "a 410 answer: nothing more is sent to it.")
        status = conn.scalar(select(Notification.status).where(
            Notification.seq == found.seq).with_for_update())
        if status == NotificationStatus.PENDING:
            raise ValidationError(f"Notification {notification_id} is still pending: its next "
                                  "attempt is already queued.")
        made = conn.scalar(select(func.coalesce(func.max(NotificationAttempt.n), 0)).where(
            NotificationAttempt.notification_seq == found.seq)) or 0
        conn.execute(update(Notification).where(Notification.seq == found.seq)
                     .values(status=NotificationStatus.PENDING, finished_at=None))
        waiting = conn.scalar(select(func.count()).where(
            Notification.connector_id == found.connector_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.seq != found.seq))
        if not waiting:  # the head of its connector's queue: deliver it now
            jobs.enqueue(conn, jobs.DELIVER, run_at=clock.now(),
                         payload={"notification": found.seq, "after": made})
    return int(made) + 1
