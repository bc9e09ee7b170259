"""Task endpoints (API.md §4): each view authorizes, calls one service, returns the envelope."""

from __future__ import annotations

from typing import Any

from flask import g

from ..auth import requires
from ..db import request_session
from ..services import tasks
from .blueprint import Blueprint
from .schemas import TaskEnvelopeSchema

blp = Blueprint(
    "tasks", __name__, url_prefix="/v2/<team_id>/project/<project_id>",
    description="Tasks: read them and move them through their lifecycle.",
)


def _caller() -> tasks.Caller:
    return tasks.Caller(principal=g.principal, request_id=g.request_id)


@blp.route("/task/<task_id>", methods=["GET"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.read")
def get_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Get a task"""
    task = tasks.get_task(request_session(), g.principal, team_id, project_id, task_id)
    return {"payload": task}


@blp.route("/task/<task_id>/discard", methods=["POST"])
@blp.response(200, TaskEnvelopeSchema)
@requires("task.edit")
def discard_task(team_id: str, project_id: str, task_id: str) -> dict[str, Any]:
    """Discard a task

    Only a REVIEWING task can be discarded; it becomes DISCARDED for good. Any body is ignored.
    """
    task = tasks.discard_task(request_session(), _caller(), team_id, project_id, task_id)
    return {"payload": task}
