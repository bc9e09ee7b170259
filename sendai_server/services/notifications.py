"""Notifications (API.md §11): the outbox, written in the transaction of the change that
causes it, and the delivery log.

When a task's status changes, `fire_on_task` (services/tasks.py) settles its upload, which says
in the same statement whether the project has connectors; only then does `notify_task_moved`
run, in that same write: a task that became COMPLETED is a `task.export`, an upload whose
status became IN_REVIEW an `upload.in_review`, one that became COMPLETED, PARTIAL or FAILED
an `upload.processed`, one row per subscribed connector, in that order. Each row holds the
exact body every attempt sends (the upload as GET returns it and the public task, as they
are in this transaction), with its own `evt_…` id.

One connector's notifications go out in order: only the oldest pending one of a connector has
a `deliver` job (pipeline/deliveries.py schedules the next when one is delivered or failed).
The connector's row is locked (PostgreSQL) while its queue is looked at, so two writes never
schedule two heads; a task's row is always locked before a connector's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import URLSafeSerializer
from sqlalchemy import Connection, Table, func, insert, select, tuple_

from ..ids import new_id
from ..lifecycle import TaskStatus
from ..models import Connector, Notification, NotificationAttempt, Project
from ..pipeline import jobs
from ..uow import UnitOfWork
from .connectors import EVENTS
from .keys import Principal
from .task_list import make_token, read_token
from .task_reads import add_meta_and_pages, load_public_task
from .upload_reads import load_upload
from .upload_status import PROCESSED_STATUSES, Settled

NOTIFICATION: Table = Notification.__table__  # type: ignore[assignment]
ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[assignment]
STATUSES = ("pending", "delivered", "failed")
_LEVELS = {"TASK_EXPORT": "TASK", "UPLOAD_IN_REVIEW": "UPLOAD", "UPLOAD_PROCESSED": "UPLOAD"}
_SALT = "sendai.notification-list.v1"


def notify_task_moved(
    conn: Connection, settled: Settled, project_id: str, task_id: str, upload_id: str,
    from_status: TaskStatus, to_status: TaskStatus, now: datetime,
) -> None:
    """Inside the write of the change: the notifications it causes, for every connector of the
    project subscribed to them."""
    subscriptions = []
    if to_status == TaskStatus.COMPLETED:
        subscriptions.append("task.export")
    before, after = settled.upload_status(from_status), settled.upload_status(to_status)
    if after != before and after == "IN_REVIEW":
        subscriptions.append("upload.in_review")
    elif after != before and after in PROCESSED_STATUSES:
        subscriptions.append("upload.processed")
    if not subscriptions:
        return
    connectors = conn.execute(
        select(Connector.id, Connector.events).where(Connector.project_id == project_id,
                                                     Connector.disabled_at.is_(None))
        .order_by(Connector.created_at, Connector.id).with_for_update()
    ).all()
    wanted = [(c.id, s) for s in subscriptions for c in connectors if s in c.events]
    if not wanted:
        return
    bodies = _bodies(conn, project_id, task_id, upload_id, now)
    busy = set(conn.scalars(
        select(Notification.connector_id).distinct().where(
            Notification.connector_id.in_(list({c for c, _ in wanted})),
            Notification.status == "pending")
    ))
    for connector_id, subscription in wanted:
        event = EVENTS[subscription]
        notification_id = new_id("evt")
        body = json.dumps({"id": notification_id, **bodies[event]}, separators=(",", ":"))
        seq = conn.execute(insert(NOTIFICATION).values(
            id=notification_id, project_id=project_id, connector_id=connector_id, event=event,
            upload_id=upload_id, task_id=task_id if event == "TASK_EXPORT" else None,
            body=body, status="pending", created_at=now,
        )).inserted_primary_key[0]  # type: ignore[index]
        if connector_id not in busy:  # the head of its connector's queue: deliver it now
            busy.add(connector_id)
            jobs.enqueue(conn, jobs.DELIVER, payload={"notification": seq}, run_at=now)


def _bodies(conn: Connection, project_id: str, task_id: str, upload_id: str,
            now: datetime) -> dict[str, dict[str, Any]]:
    """Each event's payload but its id (API.md §11), dumped as the API dumps its objects."""
    from ..api.schemas import TaskSchema, Timestamp, UploadSchema  # the API's own serialization

    team_id = conn.scalar(select(Project.team_id).where(Project.id == project_id))
    upload = UploadSchema().dump(load_upload(conn, upload_id))
    task = load_public_task(conn, project_id, task_id)
    public_task = TaskSchema().dump(add_meta_and_pages(conn, [task])[0]) if task else None
    common = {"team_id": team_id, "project_id": project_id,
              "created_at": Timestamp()._serialize(now, "created_at", None), "upload": upload}
    return {event: {"event": event, "event_level": level, **common,
                    "task": public_task if level == "TASK" else None}
            for event, level in _LEVELS.items()}


# --- the delivery log ---------------------------------------------------------------------------

@dataclass(frozen=True)
class NotificationListQuery:
    statuses: tuple[str, ...] = ()
    descending: bool = True
    limit: int = 20
    token: str | None = None

    def binding(self, team_id: str, project_id: str) -> list[Any]:
        return [team_id, project_id, sorted(set(self.statuses)), self.descending]


def list_notifications(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str,
    query: NotificationListQuery, secret: str,
) -> tuple[list[dict[str, Any]], int, bool, str | None]:
    """One page of the project's notifications, each with its attempts (§4's paging): the
    notifications, count, more, token."""
    principal.check_visibility(team_id, project_id)
    serializer = URLSafeSerializer(secret, salt=_SALT)
    binding = query.binding(team_id, project_id)
    after = read_token(serializer, query.token, binding) if query.token else None
    conditions: list[Any] = [NOTIFICATION.c.project_id == project_id]
    if query.statuses:
        conditions.append(NOTIFICATION.c.status.in_(sorted(set(query.statuses))))
    key = tuple_(NOTIFICATION.c.created_at, NOTIFICATION.c.id)
    page_conditions = list(conditions)
    if after is not None:
        page_conditions.append(key < after if query.descending else key > after)
    order = ((NOTIFICATION.c.created_at.desc(), NOTIFICATION.c.id.desc()) if query.descending
             else (NOTIFICATION.c.created_at.asc(), NOTIFICATION.c.id.asc()))
    columns = [NOTIFICATION.c[name] for name in
               ("seq", "id", "event", "connector_id", "status", "created_at")]
    with uow.read() as conn:
        count = conn.scalar(select(func.count()).select_from(NOTIFICATION).where(*conditions))
        rows = conn.execute(select(*columns).where(*page_conditions).order_by(*order)
                            .limit(query.limit + 1)).mappings().all()
        more = len(rows) > query.limit
        found = [dict(row) for row in rows[: query.limit]]
        _with_attempts(conn, found)
    token = make_token(serializer, binding, found[-1]) if more else None
    return found, count or 0, more, token


def _with_attempts(conn: Connection, notifications: list[dict[str, Any]]) -> None:
    by_seq = {n.pop("seq"): n for n in notifications}
    for notification in notifications:
        notification["attempts"] = []
    if by_seq:
        rows = conn.execute(
            select(ATTEMPT).where(ATTEMPT.c.notification_seq.in_(list(by_seq)))
            .order_by(ATTEMPT.c.notification_seq, ATTEMPT.c.n)
        ).mappings()
        for row in rows:
            attempt = dict(row)
            by_seq[attempt.pop("notification_seq")]["attempts"].append(attempt)
