"""Notifications (API.md §11): the outbox, written in the transaction of the change that
causes it, and the delivery log.

When a task's status changes, `fire_on_task` (services/tasks.py) settles its upload, which says
in the same statement whether the project has connectors; only then does `notify_task_moved`
run, in that same write: each event of notification_events.py's table that the change fires,
one row per subscribed connector, in the table's order. Each row holds the exact body every
attempt sends (the upload as GET returns it and the public task, as they are in this
transaction), with its own `evt_…` id.

One connector's notifications go out in order: only the oldest pending one of a connector has
a `deliver` job. `schedule_heads` keeps that rule, the one place it is kept: here, after new
notifications are written, and in pipeline/deliveries.py when one is delivered or failed.
The connector's row is locked (PostgreSQL) while its queue is looked at, so two writes never
schedule two heads; a task's row is always locked before a connector's.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select

from ..domain.ids import new_id
from ..domain.lifecycle import TaskStatus
from ..domain.notification_events import NOTIFICATION_EVENTS, NotificationEvent
from ..domain.statuses import NotificationStatus
from ..store import jobs
from ..store.models import Connector, Notification, NotificationAttempt, Project
from ..store.uow import UnitOfWork
from .keys import Principal
from .objects import TaskSchema, Timestamp, UploadSchema
from .paging import Keyset, Page, fetch_page
from .task_reads import add_meta_and_pages, load_public_task
from .upload_reads import load_upload
from .upload_status import Settled

NOTIFICATION: Table = Notification.__table__  # type: ignore[assignment]
ATTEMPT: Table = NotificationAttempt.__table__  # type: ignore[assignment]
NOTIFICATIONS = Keyset(NOTIFICATION, NOTIFICATION.c.created_at, NOTIFICATION.c.id,
                       salt="sendai.notification-list.v1")
_PENDING = NotificationStatus.PENDING.value


def notify_task_moved(
    conn: Connection, settled: Settled, project_id: str, task_id: str, upload_id: str,
    from_status: TaskStatus, to_status: TaskStatus, now: datetime,
) -> None:
    """Inside the write of the change: the notifications it causes, for every connector of the
    project subscribed to them."""
    before, after = settled.upload_status(from_status), settled.upload_status(to_status)
    fired = [e for e in NOTIFICATION_EVENTS if e.fires(to_status, before, after)]
    if not fired:
        return
    connectors = conn.execute(
        select(Connector.id, Connector.events).where(Connector.project_id == project_id,
                                                     Connector.disabled_at.is_(None))
        .order_by(Connector.created_at, Connector.id).with_for_update()
    ).all()
    wanted = [(c.id, e) for e in fired for c in connectors if e.subscription in c.events]
    if not wanted:
        return
    bodies = _bodies(conn, project_id, task_id, upload_id, now)
    added: set[int] = set()
    for connector_id, event in wanted:
        notification_id = new_id("evt")
        body = json.dumps({"id": notification_id, **bodies[event.event]}, separators=(",", ":"))
        added.add(conn.execute(insert(NOTIFICATION).values(
            id=notification_id, project_id=project_id, connector_id=connector_id,
            event=event.event, upload_id=upload_id,
            task_id=task_id if event.level == "TASK" else None,
            body=body, status=_PENDING, created_at=now,
        )).inserted_primary_key[0])  # type: ignore[index]
    schedule_heads(conn, {c for c, _ in wanted}, added=added, run_at=now)


def schedule_heads(conn: Connection, connector_ids: Collection[str], *,
                   added: Collection[int] | None = None, run_at: datetime | None = None) -> None:
    """The connectors' delivery order, kept here only: each connector's oldest pending
    notification gets a `deliver` job when it has none yet, and no other does. Called with the
    connectors' rows locked, after notifications were `added` (a head among them has no job; an
    older head has had one since it became the head), or after a connector's head was
    delivered or failed (`added` None: its new head has no job yet)."""
    heads = conn.execute(
        select(func.min(Notification.seq))
        .join(Connector, Connector.id == Notification.connector_id)
        .where(
            Notification.connector_id.in_(sorted(connector_ids)),
            Notification.status == _PENDING,
            Connector.disabled_at.is_(None),  # a 410 disabled it: nothing more is sent
        ).group_by(Notification.connector_id)
    ).scalars()
    due = [seq for seq in sorted(heads) if added is None or seq in added]
    # A head sent again (services/redelivery.py) has attempts already: its new one follows them.
    made = {seq: n for seq, n in conn.execute(
        select(NotificationAttempt.notification_seq, func.max(NotificationAttempt.n))
        .where(NotificationAttempt.notification_seq.in_(due))
        .group_by(NotificationAttempt.notification_seq)
    )} if due and added is None else {}
    for seq in due:
        payload = {"notification": seq, **({"after": int(made[seq])} if seq in made else {})}
        jobs.enqueue(conn, jobs.DELIVER, payload=payload, run_at=run_at)


def _bodies(conn: Connection, project_id: str, task_id: str, upload_id: str,
            now: datetime) -> dict[str, dict[str, Any]]:
    """Each event's payload but its id (API.md §11), dumped as the API dumps its objects."""
    team_id = conn.scalar(select(Project.team_id).where(Project.id == project_id))
    upload = UploadSchema().dump(load_upload(conn, upload_id))
    task = load_public_task(conn, project_id, task_id)
    public_task = TaskSchema().dump(add_meta_and_pages(conn, [task])[0]) if task else None
    common = {"team_id": team_id, "project_id": project_id,
              "created_at": Timestamp()._serialize(now, "created_at", None), "upload": upload}
    return {event.event: _payload(event, common, public_task) for event in NOTIFICATION_EVENTS}


def _payload(event: NotificationEvent, common: dict[str, Any],
             public_task: dict[str, Any] | None) -> dict[str, Any]:
    return {"event": event.event, "event_level": event.level, **common,
            "task": public_task if event.level == "TASK" else None}


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
) -> Page:
    """One page of the project's notifications, each with its attempts (§4's paging)."""
    principal.check_visibility(team_id, project_id)
    conditions: list[Any] = [NOTIFICATION.c.project_id == project_id]
    if query.statuses:
        conditions.append(NOTIFICATION.c.status.in_(sorted(set(query.statuses))))
    columns = [NOTIFICATION.c[name] for name in
               ("seq", "id", "event", "connector_id", "status", "created_at")]
    return fetch_page(
        uow, NOTIFICATIONS, select(*columns), conditions, secret=secret,
        binding=query.binding(team_id, project_id), descending=query.descending,
        limit=query.limit, token=query.token, finish=_with_attempts,
    )


def _with_attempts(conn: Connection,
                   notifications: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
    return notifications
