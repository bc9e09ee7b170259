"""Notifications (docs/notifications.md): the outbox, written in the transaction of the change that
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

from ..domain.extracted_data import extracted_data
from ..domain.ids import new_id
from ..domain.lifecycle import TaskStatus
from ..domain.notification_events import NOTIFICATION_EVENTS, NotificationEvent
from ..domain.profiles import Profile, event_name, team_profile
from ..domain.statuses import UPLOAD_STATUSES_DONE, NotificationStatus
from ..store import jobs
from ..store.models import Connector, Notification, NotificationAttempt, Project, Task, Team
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
    project subscribed to them, as the team's profile spells and shapes them
    (docs/profiles.md: event_names, payload_task, export_when)."""
    before, after = settled.upload_status(from_status), settled.upload_status(to_status)
    upload_done = after != before and after in UPLOAD_STATUSES_DONE
    if not any(e.fires(to_status, before, after) for e in NOTIFICATION_EVENTS) \
            and not upload_done:
        return
    connectors = conn.execute(
        select(Connector.id, Connector.events).where(Connector.project_id == project_id,
                                                     Connector.kind == "notification",
                                                     Connector.disabled_at.is_(None))
        .order_by(Connector.created_at, Connector.id).with_for_update()
    ).all()
    subscribed = {e for c in connectors for e in c.events}
    if not subscribed:
        return
    team_id, stored = conn.execute(
        select(Project.team_id, Team.profile).join(Team, Team.id == Project.team_id)
        .where(Project.id == project_id)
    ).one()
    profile = team_profile(stored)
    # (event, task id of a TASK event) in the table's order
    fired: list[tuple[NotificationEvent, str | None]] = []
    for event in NOTIFICATION_EVENTS:
        if event.subscription not in subscribed:
            continue
        if event.level != "TASK":
            if event.fires(to_status, before, after):
                fired.append((event, None))
        elif profile["export_when"] == "upload":  # every task of the upload finished
            if upload_done:
                fired.extend((event, t) for t in _completed_unexported(conn, upload_id))
        elif event.fires(to_status, before, after):
            fired.append((event, task_id))
    if not fired:
        return
    common = _common(conn, team_id, project_id, upload_id, now)
    tasks = {t: _task_object(conn, project_id, t, common["upload"], profile)
             for _, t in fired if t is not None}
    added: set[int] = set()
    wanted: set[str] = set()
    for event, subject in fired:
        body_of = {"event": event_name(profile, event.event, event.subscription),
                   "event_level": event.level, **common,
                   "task": tasks[subject] if subject is not None else None}
        for connector in connectors:
            if event.subscription not in connector.events:
                continue
            notification_id = new_id("evt")
            body = json.dumps({"id": notification_id, **body_of}, separators=(",", ":"))
            added.add(conn.execute(insert(NOTIFICATION).values(
                id=notification_id, project_id=project_id, connector_id=connector.id,
                event=event.event, upload_id=upload_id, task_id=subject,
                body=body, status=_PENDING, created_at=now,
            )).inserted_primary_key[0])  # type: ignore[index]
            wanted.add(connector.id)
    schedule_heads(conn, wanted, added=added, run_at=now)


def _completed_unexported(conn: Connection, upload_id: str) -> list[str]:
    return list(conn.scalars(
        select(Task.id).where(Task.upload_id == upload_id, Task.status == TaskStatus.COMPLETED,
                              Task.exported_at.is_(None))
        .order_by(Task.created_at, Task.id)
    ))


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


def _common(conn: Connection, team_id: str, project_id: str, upload_id: str,
            now: datetime) -> dict[str, Any]:
    """The fields of every event's payload but its id, event and task (docs/notifications.md),
    dumped as the API dumps its objects."""
    return {"team_id": team_id, "project_id": project_id,
            "created_at": Timestamp()._serialize(now, "created_at", None),
            "upload": UploadSchema().dump(load_upload(conn, upload_id))}


def _task_object(conn: Connection, project_id: str, task_id: str, upload: dict[str, Any] | None,
                 profile: Profile) -> dict[str, Any] | None:
    """A payload's `task` under `payload_task` (docs/profiles.md): the public task with its
    `extracted_data`, or the payloads page's summary of it."""
    task = load_public_task(conn, project_id, task_id)
    if task is None:
        return None
    public = TaskSchema().dump(add_meta_and_pages(conn, [task])[0])
    data = extracted_data(public["pages"])
    if profile["payload_task"] == "summary":
        file = (upload or {}).get("files", {}).get(task_id) or {}
        return {"id": public["id"], "status": public["status"],
                "document_type": file.get("file_type"), "extracted_data": data}
    return {**public, "extracted_data": data}


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
