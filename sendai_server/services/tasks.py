"""Task use cases (docs/api/tasks.md). Each takes the unit of work first and never commits: a change
is one `uow.write()`: lock the task, fire the lifecycle machine, write the change and its audit
event. A refused change writes nothing.

Locking: on PostgreSQL the task row is read with SELECT ... FOR UPDATE, so racing requests
(on any worker or host) queue on the row and each sees the state the previous one left. On
SQLite the write transaction takes the write lock up front (BEGIN IMMEDIATE), which
serializes writers the same way. Either way the machine decides on the current value, and the
loser of a race gets exactly the answer it would have had if it had come second.

The machine decides on the locked row's values (not on an ORM object, so no autoflush can
write the new status before the guard reads it); one UPDATE writes what changed and one INSERT
its event. The lock covers only the task row: pages are read after the commit, so a large task
does not hold the write lock while they are read (they never change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from ..config import DEFAULT_PIPELINE_DELAY
from ..domain import clock
from ..domain.errors import InvalidTaskState, NotFound
from ..domain.ids import is_lookup_id, new_id
from ..domain.lifecycle import (
    LifecycleState,
    Refusal,
    TaskStatus,
    fire,
    follow_up,
    opens_task,
    past_tense,
)
from ..store import jobs
from ..store.models import Annotation, Task, TaskEvent
from ..store.statements import Statement
from ..store.uow import UnitOfWork
from .keys import Principal
from .notifications import notify_task_moved
from .projects import project_settings
from .task_reads import PublicTask, add_meta_and_pages, load_public_task, select_task_row
from .upload_status import settle_upload


@dataclass(frozen=True)
class Caller:
    """Who asks for a change, as the audit trail records it."""

    principal: Principal
    request_id: str | None


@dataclass(frozen=True)
class AnnotationAnswer:
    """An API lookup's answer for one annotation (pipeline/api_lookup.py)."""

    annotation_id: str
    entity_id: str
    content: str
    confidence: float
    warning: str | None = None


@dataclass(frozen=True)
class LookupResult:
    """What the API lookups answered before a completion: written in its transaction."""

    answers: list[AnnotationAnswer]

    def event_details(self) -> dict[str, Any] | None:
        warnings = [{"annotation_id": a.annotation_id, "entity_id": a.entity_id,
                     "message": a.warning} for a in self.answers if a.warning]
        return {"warnings": warnings} if warnings else None

    def write(self, conn: Connection) -> None:
        for answer in self.answers:
            conn.execute(update(Annotation).where(Annotation.id == answer.annotation_id)
                         .values(content=answer.content, confidence=answer.confidence))


_TASK_TABLE: Table = Task.__table__  # type: ignore[assignment]
_EVENT_TABLE: Table = TaskEvent.__table__  # type: ignore[assignment]
INSERT_EVENT = Statement(
    insert(_EVENT_TABLE).values({
        name: bindparam(name, type_=column.type)
        for name, column in _EVENT_TABLE.c.items() if name != "seq"
    })
)
# One UPDATE per set of changed columns (a handful: a trigger always changes the same ones).
_UPDATES: dict[frozenset[str], Statement] = {}


def update_task_statement(columns: frozenset[str]) -> Statement:
    statement = _UPDATES.get(columns)
    if statement is None:
        statement = _UPDATES[columns] = Statement(
            update(_TASK_TABLE)
            .where(_TASK_TABLE.c.id == bindparam("changed_task_id"))
            .values({  # in the table's order: one text per set, on every worker
                column.name: bindparam(column.name, type_=column.type)
                for column in _TASK_TABLE.c if column.name in columns
            })
        )
    return statement


def _visible(principal: Principal, team_id: str, project_id: str, task_id: str) -> None:
    principal.check_visibility(team_id, project_id)
    if not is_lookup_id(task_id):
        raise NotFound(f"Task {task_id[:64]!r} was not found.")


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"Task {task_id} was not found.")


def get_task(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """The public task (docs/api/tasks.md): its row, then its meta and pages (which never
    change)."""
    _visible(principal, team_id, project_id, task_id)
    with uow.read() as conn:
        task = load_public_task(conn, project_id, task_id)
    if task is None:
        raise _not_found(task_id)
    return task


def check_task_exists(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, task_id: str
) -> None:
    """404 unless the task exists where the principal may see it. Endpoints with a body call
    this before reading it: docs/api/index.md answers an unknown task before a bad body."""
    _visible(principal, team_id, project_id, task_id)
    with uow.read() as conn:
        found = conn.scalar(
            select(Task.id).where(Task.id == task_id, Task.project_id == project_id)
        )
    if found is None:
        raise _not_found(task_id)


def refusal_message(task_id: str, refusal: Refusal) -> str:
    details = refusal.details
    if "approved" in details:
        return f"Task {task_id} is {'already' if details['approved'] else 'not'} approved."
    if "exported_at" in details:
        return f"Task {task_id} was exported at {details['exported_at']}; it cannot be unlocked."
    allowed = details["allowed"]
    which = allowed[0] if len(allowed) == 1 else ", ".join(allowed[:-1]) + " or " + allowed[-1]
    verb = past_tense(refusal.trigger)
    return f"Task {task_id} is {refusal.status.value}; only {which} tasks can be {verb}."


def change_task(
    uow: UnitOfWork,
    caller: Caller,
    team_id: str,
    project_id: str,
    task_id: str,
    trigger: str,
    details: dict[str, Any] | None = None,
    *,
    pipeline_delay: float = DEFAULT_PIPELINE_DELAY,
    lookup: LookupResult | None = None,
) -> PublicTask:
    """Fire `trigger` on the task for a caller with a key, in one write; or change nothing and
    raise InvalidTaskState with what stood in the way. Returns the public task after the
    change. `pipeline_delay`: the server's default delay of a pipeline step
    (docs/project-settings.md). `lookup`: the API lookups' answers (a completion), written with the
    change, their warnings kept in its event."""
    _visible(caller.principal, team_id, project_id, task_id)
    if lookup is not None and details is None:
        details = lookup.event_details()
    with uow.write() as conn:
        task = fire_on_task(
            conn, project_id, task_id, trigger, key_id=caller.principal.key_id,
            request_id=caller.request_id, details=details, pipeline_delay=pipeline_delay,
        )
        if lookup is not None:
            lookup.write(conn)
    with uow.read() as conn:
        add_meta_and_pages(conn, [task])
    return task


def discard_task(
    uow: UnitOfWork, caller: Caller, team_id: str, project_id: str, task_id: str, *,
    pipeline_delay: float = DEFAULT_PIPELINE_DELAY,
) -> PublicTask:
    """Discard a REVIEWING task. A task in another state is refused (400), or under the
    `discard_refused=ignored` profile (docs/profiles.md) answered as it is, unchanged, with
    no event written."""
    try:
        return change_task(uow, caller, team_id, project_id, task_id, "discard",
                           pipeline_delay=pipeline_delay)
    except InvalidTaskState:
        if caller.principal.profile["discard_refused"] != "ignored":
            raise
    return get_task(uow, caller.principal, team_id, project_id, task_id)


def fire_on_task(
    conn: Connection,
    project_id: str,
    task_id: str,
    trigger: str,
    *,
    key_id: str | None,
    request_id: str | None,
    details: dict[str, Any] | None = None,
    pipeline_delay: float = DEFAULT_PIPELINE_DELAY,
) -> PublicTask:
    """Inside the caller's `uow.write()`: lock the task, fire `trigger`, write what changed, its
    event, the job that follows it (lifecycle `then`) and the upload's settling. The pipeline
    (key_id None) calls this with the write that also finishes its job. The task's row
    after the change, without meta and pages."""
    task = select_task_row(conn, project_id, task_id, for_update=True)
    if task is None:
        raise _not_found(task_id)
    return fire_on_locked_task(conn, task, trigger, key_id=key_id, request_id=request_id,
                               details=details, pipeline_delay=pipeline_delay)


def fire_on_locked_task(
    conn: Connection,
    task: PublicTask,
    trigger: str,
    *,
    key_id: str | None,
    request_id: str | None,
    details: dict[str, Any] | None = None,
    pipeline_delay: float = DEFAULT_PIPELINE_DELAY,
) -> PublicTask:
    """fire_on_task's work on a row the caller has locked already in this write (the pipeline's
    steps, services/pipeline_steps.py): the task is locked once per change."""
    task_id, project_id = task["id"], task["project_id"]
    state = LifecycleState.of(task)
    from_status = state.status
    refusal = fire(state, trigger)
    if refusal is not None:
        raise InvalidTaskState(refusal_message(task_id, refusal), refusal.details)
    now = clock.now()
    changes = state.changes_from(task)
    if opens_task(trigger):
        changes["last_opened_at"] = now
    if changes:
        update = update_task_statement(frozenset(changes))
        update.execute(conn, {**changes, "changed_task_id": task_id})
        task.update(changes)
    INSERT_EVENT.execute(conn, {
        "id": new_id("evt"), "task_id": task_id, "action": trigger,
        "from_status": TaskStatus(from_status).value,
        "to_status": TaskStatus(state.status).value, "approved": state.approved,
        "key_id": key_id, "request_id": request_id, "created_at": now, "details": details,
    })
    then = follow_up(trigger)
    if then is not None:
        settings = project_settings(conn, project_id)
        if settings.pipeline == "auto":
            delay = settings.delay if settings.delay is not None else pipeline_delay
            jobs.enqueue(conn, then, task_id=task_id, run_at=now + timedelta(seconds=delay))
    if from_status != state.status:
        settled = settle_upload(conn, task["upload_id"], task_id, now)
        if settled.has_connectors:
            notify_task_moved(conn, settled, project_id, task_id, task["upload_id"],
                              TaskStatus(from_status), TaskStatus(state.status), now)
    return task


def report_details(issues: list[dict[str, str]], message: str | None) -> dict[str, Any]:
    """What a report's event keeps: its issues and message (docs/api/tasks.md)."""
    return {"issues": [{"label": i["label"], "value": i["value"]} for i in issues],
            "message": message}


def task_events(
    uow: UnitOfWork, principal: Principal, team_id: str, project_id: str, task_id: str
) -> list[dict[str, Any]]:
    """The task's audit trail, oldest first."""
    check_task_exists(uow, principal, team_id, project_id, task_id)
    with uow.read() as conn:
        rows = conn.execute(
            select(_EVENT_TABLE).where(_EVENT_TABLE.c.task_id == task_id)
            .order_by(_EVENT_TABLE.c.seq)
        ).mappings().all()
    return [dict(row) for row in rows]
