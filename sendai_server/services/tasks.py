"""Task use cases. Each change is one transaction: lock the task, fire the lifecycle machine,
write the change and its audit event, commit. A refused change writes nothing.

Locking: on PostgreSQL the task row is read with SELECT ... FOR UPDATE, so racing requests
(on any worker or host) queue on the row and each sees the state the previous one left. On
SQLite the write transaction (`db.write_connection`) takes the write lock up front (BEGIN
IMMEDIATE), which serializes writers the same way. Either way the machine decides on the
current value, and the loser of a race gets exactly the answer it would have had if it had
come second.

The machine decides on the locked row's values (not on an ORM object, so no autoflush can
write the new status before the guard reads it); one UPDATE writes what changed and one INSERT
its event. The lock covers only the task row: pages are read after the commit
(services/task_reads.py), so a large task does not hold the write lock while they are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from .. import db
from ..errors import InvalidTaskState, NotFound
from ..ids import is_lookup_id, new_id
from ..lifecycle import Refusal, TaskStatus, fire
from ..models import Task, TaskEvent
from .keys import Principal
from .task_reads import PublicTask, add_meta_and_pages, load_public_task, select_task_row

# Actions a person takes on a task set last_opened_at (API.md §4); approve/disapprove don't.
_OPENS_TASK = {"discard", "complete", "unlock", "report"}

_PAST = {
    "discard": "discarded", "complete": "completed", "unlock": "unlocked",
    "approve": "approved", "disapprove": "disapproved", "report": "reported",
    "to_review": "sent to review", "auto_complete": "auto-completed", "fail": "failed",
    "filter": "filtered", "retry": "retried", "export": "exported",
    "export_fail": "marked as failed to export",
}


@dataclass(frozen=True)
class Caller:
    """Who asks for a change, as the audit trail records it."""

    principal: Principal
    request_id: str | None


@dataclass
class _LifecycleState:
    """The fields the machine reads and writes, taken from the locked row (lifecycle.LifecycleTask).

    The machine decides on these values; the service then writes what changed with one UPDATE.
    """

    status: TaskStatus
    approved: bool
    exported_at: datetime | None
    export_failed_at: datetime | None


_LIFECYCLE_FIELDS = ("status", "approved", "exported_at", "export_failed_at")

# Built once; the UPDATE sets whichever columns its parameters name.
_TASK_TABLE: Table = Task.__table__  # type: ignore[assignment]
_UPDATE_TASK = update(_TASK_TABLE).where(_TASK_TABLE.c.id == bindparam("changed_task_id"))
_INSERT_EVENT = insert(TaskEvent.__table__)  # type: ignore[arg-type]


def _visible(principal: Principal, team_id: str, project_id: str, task_id: str) -> None:
    principal.check_visibility(team_id, project_id)
    if not is_lookup_id(task_id):
        raise NotFound(f"Task {task_id[:64]!r} was not found.")


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"Task {task_id} was not found.")


def get_task(
    conn: Connection, principal: Principal, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """The public task (API.md §5), read in one transaction: the one open on `conn` (the
    request's authentication read), or a new one; it is ended here."""
    _visible(principal, team_id, project_id, task_id)
    try:
        task = load_public_task(conn, project_id, task_id)
    finally:
        conn.rollback()  # only read
    if task is None:
        raise _not_found(task_id)
    return task


def check_task_exists(
    session: Session, principal: Principal, team_id: str, project_id: str, task_id: str
) -> None:
    """404 unless the task exists where the principal may see it. Endpoints with a body call
    this before reading it: API.md §2 answers an unknown task before a bad body."""
    _visible(principal, team_id, project_id, task_id)
    found = session.scalar(
        select(Task.id).where(Task.id == task_id, Task.project_id == project_id)
    )
    session.rollback()
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
    verb = _PAST.get(refusal.trigger, refusal.trigger)
    return f"Task {task_id} is {refusal.status.value}; only {which} tasks can be {verb}."


def change_task(
    engine: Engine,
    caller: Caller,
    team_id: str,
    project_id: str,
    task_id: str,
    trigger: str,
    details: dict[str, Any] | None = None,
) -> PublicTask:
    """Fire `trigger` on the task and record it, in one transaction; or change nothing and
    raise InvalidTaskState with what stood in the way. Returns the public task after the
    change; its pages are read after the commit (they never change).

    Only Core statements run here, on plain connections: no Session bookkeeping per change."""
    _visible(caller.principal, team_id, project_id, task_id)
    with db.write_connection(engine) as conn:  # commits at the end; rolls back on a raise
        task = select_task_row(conn, project_id, task_id, for_update=True)
        if task is None:
            raise _not_found(task_id)
        state = _LifecycleState(*(task[name] for name in _LIFECYCLE_FIELDS))
        from_status = state.status
        refusal = fire(state, trigger)
        if refusal is not None:
            raise InvalidTaskState(refusal_message(task_id, refusal), refusal.details)
        now = datetime.now(UTC)
        changes = {
            name: getattr(state, name)
            for name in _LIFECYCLE_FIELDS
            if getattr(state, name) != task[name]
        }
        if trigger in _OPENS_TASK:
            changes["last_opened_at"] = now
        if changes:
            conn.execute(_UPDATE_TASK, {**changes, "changed_task_id": task_id})
            task.update(changes)
        conn.execute(_INSERT_EVENT, {
            "id": new_id("evt"), "task_id": task_id, "action": trigger,
            "from_status": TaskStatus(from_status).value,
            "to_status": TaskStatus(state.status).value, "approved": state.approved,
            "key_id": caller.principal.key_id, "request_id": caller.request_id,
            "created_at": now, "details": details,
        })
    with engine.connect() as conn:  # a read; closing rolls it back
        add_meta_and_pages(conn, [task])
    return task


def discard_task(
    engine: Engine, caller: Caller, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """REVIEWING → DISCARDED, for good. Anything else: 400 invalid_task_state."""
    return change_task(engine, caller, team_id, project_id, task_id, "discard")


def complete_task(
    engine: Engine, caller: Caller, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """REVIEWING → PROCESSING: the pipeline takes the reviewed task on."""
    return change_task(engine, caller, team_id, project_id, task_id, "complete")


def unlock_task(
    engine: Engine, caller: Caller, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """COMPLETED or FILTERED → REVIEWING, unless the task has been exported."""
    return change_task(engine, caller, team_id, project_id, task_id, "unlock")


def approve_task(
    engine: Engine, caller: Caller, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """approved → true on a task that is not PROCESSING and not yet approved; status stays."""
    return change_task(engine, caller, team_id, project_id, task_id, "approve")


def disapprove_task(
    engine: Engine, caller: Caller, team_id: str, project_id: str, task_id: str
) -> PublicTask:
    """approved → false on an approved task that is not PROCESSING; status stays."""
    return change_task(engine, caller, team_id, project_id, task_id, "disapprove")


def report_task(
    engine: Engine,
    caller: Caller,
    team_id: str,
    project_id: str,
    task_id: str,
    issues: list[dict[str, str]],
    message: str | None = None,
) -> PublicTask:
    """Record a report on a task that is not PROCESSING; the issues and message are kept in
    the report's event. Status stays."""
    details = {"issues": [{"label": i["label"], "value": i["value"]} for i in issues],
               "message": message}
    return change_task(engine, caller, team_id, project_id, task_id, "report", details)


def task_events(
    session: Session, principal: Principal, team_id: str, project_id: str, task_id: str
) -> list[TaskEvent]:
    """The task's audit trail, oldest first."""
    check_task_exists(session, principal, team_id, project_id, task_id)
    events = list(
        session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id)
                        .order_by(TaskEvent.seq))
    )
    session.commit()  # end the read; a rollback would expire the events before they are dumped
    return events
