"""Test helpers (docs/api/test-helpers.md): make tasks in any state, and drive the pipeline's side
of the lifecycle, through the same machine and the same audit trail as every other change."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert

from ..config import DEFAULT_PIPELINE_DELAY
from ..domain import clock
from ..domain.lifecycle import PIPELINE_EVENTS, TaskStatus
from ..store.models import Outcome
from ..store.uow import UnitOfWork
from .keys import Principal
from .task_creation import TaskSpec, create_tasks
from .task_reads import PublicTask, load_public_task
from .tasks import Caller, change_task

DEFAULT_NAME = "Test task"


def create_test_task(
    uow: UnitOfWork,
    caller: Caller,
    team_id: str,
    project_id: str,
    *,
    name: str | None = None,
    status: TaskStatus = TaskStatus.REVIEWING,
    pages: list[dict[str, Any]] | None = None,
    meta: list[dict[str, str]] | None = None,
) -> PublicTask:
    """A new task in `status` (REVIEWING unless asked, like `tasks create`), with its `create`
    event carrying the caller's key and request id."""
    caller.principal.check_visibility(team_id, project_id)
    spec = TaskSpec(name=name or DEFAULT_NAME, status=status, pages=pages or [], meta=meta or [])
    [task_id] = create_tasks(
        uow, project_id, [spec],
        key_id=caller.principal.key_id, request_id=caller.request_id,
    )
    with uow.read() as conn:
        task = load_public_task(conn, project_id, task_id)
    assert task is not None  # just created, in this project
    return task


def advance_task(
    uow: UnitOfWork, caller: Caller, team_id: str, project_id: str, task_id: str, event: str,
    *, pipeline_delay: float = DEFAULT_PIPELINE_DELAY,
) -> PublicTask:
    """Fire a pipeline event (to_review, auto_complete, fail, filter, retry, export,
    export_fail) on the task; a state that forbids it is 400 invalid_task_state."""
    if event not in PIPELINE_EVENTS:  # the schema has already refused it; never fire a user action
        raise ValueError(f"not a pipeline event: {event!r}")
    return change_task(uow, caller, team_id, project_id, task_id, event,
                       pipeline_delay=pipeline_delay)


def register_outcome(
    uow: UnitOfWork,
    principal: Principal,
    team_id: str,
    project_id: str,
    *,
    sha256: str,
    status: str,
    pages: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A file with this hash, uploaded to this project, ends the pipeline with `status` (and
    exactly `pages`, when given): docs/api/test-helpers.md. Replaces an earlier one for the same
    hash."""
    principal.check_visibility(team_id, project_id)
    with uow.write() as conn:
        conn.execute(delete(Outcome).where(
            Outcome.project_id == project_id, Outcome.sha256 == sha256))
        conn.execute(insert(Outcome), {
            "project_id": project_id, "sha256": sha256, "status": status, "pages": pages,
            "created_at": clock.now(),
        })
    return {"sha256": sha256, "status": status, "pages": pages}
