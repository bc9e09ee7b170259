"""Task endpoints (docs/api/tasks.md): each view authorizes, calls one service, returns the
envelope."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g

from ...domain.lifecycle import TaskStatus
from ...pipeline import api_lookup
from ...services import tasks
from ...services.task_list import TaskListQuery, list_tasks
from ..auth import requires
from ..context import current_uow, token_secret
from .blueprint import Blueprint
from .schemas import (
    CompleteEnvelopeSchema,
    ReportSchema,
    TaskEnvelopeSchema,
    TaskEventListSchema,
    TaskListQuerySchema,
    TaskListSchema,
    page_answer,
)

blp = Blueprint(
    "tasks", __name__, url_prefix="/v2/<team_id>/project/<project_id>",
    description="Tasks: read them and move them through their lifecycle.",
)

F = TypeVar("F", bound=Callable[..., Any])


def _caller() -> tasks.Caller:
    return tasks.Caller(principal=g.principal, request_id=g.request_id)


def _change(
    team_id: str, project_id: str, task_id: str, trigger: str,
    details: dict[str, Any] | None = None,
) -> tasks.PublicTask:
    """Fire a lifecycle trigger on the task for the request's caller (lifecycle.TRANSITIONS)."""
    return tasks.change_task(
        current_uow(), _caller(), team_id, project_id, task_id, trigger, details,
        pipeline_delay=current_app.config["SENDAI"].pipeline_delay,
    )


def task_found_before_body(view: F) -> F:
    """Answer an unknown task (404) before the body is read (400): docs/api/index.md's order. Goes
    between `@requires` and `@blp.arguments`."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        tasks.check_task_exists(
            current_uow(), g.principal,
            kwargs["team_id"], kwargs["project_id"], kwargs["task_id"],
        )
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@blp.route("/task", methods=["GET"])
@blp.doc(operationId="listTasks")
@blp.response(200, TaskListSchema)
@requires("task.read")
@blp.arguments(TaskListQuerySchema, location="query", as_kwargs=True)
def list_project_tasks(team_id: str, project_id: str, **params: Any) -> dict[str, Any]:
    """List tasks

    Newest first unless `sort=created_at:asc`. Pass a page's `paginationToken` as `token`, with
    the same filters and sort, for the next page.
    """
    query = TaskListQuery(
        statuses=tuple(TaskStatus(s) for s in params.get("status", ())),
        approved=params.get("approved"),
        descending=params["sort"] == "created_at:desc",
        limit=params["limit"],
        token=params.get("token"),
    )
    page = list_tasks(current_uow(), g.principal, team_id, project_id, query, token_secret())
    return page_answer(page)


@blp.route("/task/<task_id>", methods=["GET"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.read")
def get_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Get a task"""
    task = tasks.get_task(current_uow(), g.principal, team_id, project_id, task_id)
    return {"payload": task}


@blp.route("/task/<task_id>/events", methods=["GET"])
@blp.doc(operationId="getTaskEvents")
@blp.response(200, TaskEventListSchema)
@requires("task.read")
def task_events(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """A task's audit trail

    This server's own: every change to the task, oldest first, with the key and request that
    made it.
    """
    events = tasks.task_events(current_uow(), g.principal, team_id, project_id, task_id)
    return {"payload": events}


@blp.route("/task/<task_id>/discard", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
def discard_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Discard a task

    Only a REVIEWING task can be discarded; it becomes DISCARDED for good. Any body is ignored.
    """
    task = tasks.discard_task(
        current_uow(), _caller(), team_id, project_id, task_id,
        pipeline_delay=current_app.config["SENDAI"].pipeline_delay,
    )
    return {"payload": task}


@blp.route("/task/<task_id>/complete", methods=["POST"])
@blp.response(200, CompleteEnvelopeSchema)
@requires("task.edit")
def complete_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Complete a task

    Only a REVIEWING task can be completed; it becomes PROCESSING while the pipeline takes it
    on. Any body is ignored.
    """
    # API lookup connectors answer first, with no lock or connection held (docs: §11).
    lookup = api_lookup.look_up(current_uow(), project_id, task_id)
    task = tasks.change_task(
        current_uow(), _caller(), team_id, project_id, task_id, "complete", lookup=lookup,
        pipeline_delay=current_app.config["SENDAI"].pipeline_delay,
    )
    return {"payload": task, "message": "Task processing started"}


@blp.route("/task/<task_id>/unlock", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
def unlock_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Unlock a task

    A COMPLETED or FILTERED task that has not been exported goes back to REVIEWING. Any body
    is ignored.
    """
    task = _change(team_id, project_id, task_id, "unlock")
    return {"payload": task}


@blp.route("/task/<task_id>/approve", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
def approve_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Approve a task

    Sets `approved` on a task that is not PROCESSING and not yet approved; the status stays.
    Any body is ignored.
    """
    task = _change(team_id, project_id, task_id, "approve")
    return {"payload": task}


@blp.route("/task/<task_id>/disapprove", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
def disapprove_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Disapprove a task

    Clears `approved` on an approved task that is not PROCESSING; the status stays. Any body
    is ignored.
    """
    task = _change(team_id, project_id, task_id, "disapprove")
    return {"payload": task}


@blp.route("/task/<task_id>/report", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
@task_found_before_body
@blp.arguments(ReportSchema)
def report_task(
    report: dict[str, Any], team_id: str, project_id: str, task_id: str
) -> dict[str, Any]:
    """Report a problem with a task

    Any task that is not PROCESSING; the status stays. The issues and message are kept in the
    task's events.
    """
    details = tasks.report_details(report["issues"], report.get("message"))
    task = _change(team_id, project_id, task_id, "report", details)
    return {"payload": task}
