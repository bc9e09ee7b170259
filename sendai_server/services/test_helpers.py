"""Test helpers (API.md §6): make tasks in any state, and drive the pipeline's side of the
lifecycle, through the same machine and the same audit trail as every other change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..lifecycle import PIPELINE_EVENTS, TaskStatus
from ..models import Task
from .task_creation import TaskSpec, create_tasks
from .task_tree import WITHOUT_TREE, load_trees
from .tasks import Caller, change_task, end_read

DEFAULT_NAME = "Test task"


def create_test_task(
    session: Session,
    caller: Caller,
    team_id: str,
    project_id: str,
    *,
    name: str | None = None,
    status: TaskStatus = TaskStatus.REVIEWING,
    pages: list[dict[str, Any]] | None = None,
    meta: list[dict[str, str]] | None = None,
) -> Task:
    """A new task in `status` (REVIEWING unless asked, like `tasks create`), with its `create`
    event carrying the caller's key and request id."""
    caller.principal.check_visibility(team_id, project_id)
    spec = TaskSpec(name=name or DEFAULT_NAME, status=status, pages=pages or [], meta=meta or [])
    [task_id] = create_tasks(
        session, project_id, [spec],
        key_id=caller.principal.key_id, request_id=caller.request_id,
    )
    task = session.scalars(select(Task).where(Task.id == task_id).options(*WITHOUT_TREE)).one()
    load_trees(session, [task])
    end_read(session)
    return task


def advance_task(
    session: Session, caller: Caller, team_id: str, project_id: str, task_id: str, event: str
) -> Task:
    """Fire a pipeline event (to_review, auto_complete, fail, filter, retry, export,
    export_fail) on the task; a state that forbids it is 400 invalid_task_state."""
    if event not in PIPELINE_EVENTS:  # the schema has already refused it; never fire a user action
        raise ValueError(f"not a pipeline event: {event!r}")
    return change_task(session, caller, team_id, project_id, task_id, event)
