"""Task use cases. Each change is one transaction: lock the task, fire the lifecycle machine,
write the change and its audit event, commit. A refused change writes nothing.

Locking: on PostgreSQL the task row is read with SELECT ... FOR UPDATE, so racing requests
(on any worker or host) queue on the row and each sees the state the previous one left. On
SQLite `db.begin_write` takes the database's write lock up front (BEGIN IMMEDIATE), which
serializes writers the same way. Either way the machine decides on the current value, and the
loser of a race gets exactly the answer it would have had if it had come second.

The lock covers only the task row: its pages are read after the commit (services/task_tree.py),
so a large task does not hold the write lock while its annotations are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import db
from ..errors import InvalidTaskState, NotFound
from ..ids import is_lookup_id, new_id
from ..lifecycle import Refusal, TaskStatus, fire
from ..models import Task, TaskEvent
from .keys import Principal
from .task_tree import WITHOUT_TREE, load_trees

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


def _task_query(project_id: str, task_id: str) -> Any:
    return (
        select(Task).where(Task.id == task_id, Task.project_id == project_id)
        .options(*WITHOUT_TREE)
    )


def end_read(session: Session) -> None:
    """End a read-only transaction. Commit, not rollback: a rollback expires every loaded
    object, and serializing the task would then read it all again."""
    session.commit()


def _visible(principal: Principal, team_id: str, project_id: str, task_id: str) -> None:
    principal.check_visibility(team_id, project_id)
    if not is_lookup_id(task_id):
        raise NotFound(f"Task {task_id[:64]!r} was not found.")


def _not_found(task_id: str) -> NotFound:
    return NotFound(f"Task {task_id} was not found.")


def get_task(
    session: Session, principal: Principal, team_id: str, project_id: str, task_id: str
) -> Task:
    _visible(principal, team_id, project_id, task_id)
    task = session.scalars(_task_query(project_id, task_id)).one_or_none()
    if task is None:
        session.rollback()
        raise _not_found(task_id)
    load_trees(session, [task])
    end_read(session)
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
    session: Session,
    caller: Caller,
    team_id: str,
    project_id: str,
    task_id: str,
    trigger: str,
    details: dict[str, Any] | None = None,
) -> Task:
    """Fire `trigger` on the task and record it, in one transaction; or change nothing and
    raise InvalidTaskState with what stood in the way."""
    _visible(caller.principal, team_id, project_id, task_id)
    db.begin_write(session)
    try:
        task = session.scalars(_task_query(project_id, task_id).with_for_update()).one_or_none()
        if task is None:
            raise _not_found(task_id)
        from_status = task.status
        refusal = fire(task, trigger)
        if refusal is not None:
            raise InvalidTaskState(refusal_message(task_id, refusal), refusal.details)
        now = datetime.now(UTC)
        if trigger in _OPENS_TASK:
            task.last_opened_at = now
        session.add(
            TaskEvent(
                id=new_id("evt"), task_id=task.id, action=trigger,
                from_status=from_status.value, to_status=TaskStatus(task.status).value,
                approved=task.approved, key_id=caller.principal.key_id,
                request_id=caller.request_id, created_at=now, details=details,
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    load_trees(session, [task])
    end_read(session)
    return task


def discard_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str
) -> Task:
    """REVIEWING → DISCARDED, for good. Anything else: 400 invalid_task_state."""
    return change_task(session, caller, team_id, project_id, task_id, "discard")


def complete_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str
) -> Task:
    """REVIEWING → PROCESSING: the pipeline takes the reviewed task on."""
    return change_task(session, caller, team_id, project_id, task_id, "complete")


def unlock_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str
) -> Task:
    """COMPLETED or FILTERED → REVIEWING, unless the task has been exported."""
    return change_task(session, caller, team_id, project_id, task_id, "unlock")


def approve_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str
) -> Task:
    """approved → true on a task that is not PROCESSING and not yet approved; status stays."""
    return change_task(session, caller, team_id, project_id, task_id, "approve")


def disapprove_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str
) -> Task:
    """approved → false on an approved task that is not PROCESSING; status stays."""
    return change_task(session, caller, team_id, project_id, task_id, "disapprove")


def report_task(
    session: Session,
    caller: Caller,
    team_id: str,
    project_id: str,
    task_id: str,
    issues: list[dict[str, str]],
    message: str | None = None,
) -> Task:
    """Record a report on a task that is not PROCESSING; the issues and message are kept in
    the report's event. Status stays."""
    details = {"issues": [{"label": i["label"], "value": i["value"]} for i in issues],
               "message": message}
    return change_task(session, caller, team_id, project_id, task_id, "report", details)


def task_events(
    session: Session, principal: Principal, team_id: str, project_id: str, task_id: str
) -> list[TaskEvent]:
    """The task's audit trail, oldest first."""
    check_task_exists(session, principal, team_id, project_id, task_id)
    events = list(
        session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id)
                        .order_by(TaskEvent.seq))
    )
    end_read(session)
    return events
