"""Listing a project's tasks (docs/api/tasks.md `GET /task`): its filters, paged as every list is
(services/paging.py), on the index ix_task_project_id_created_at_id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.lifecycle import TaskStatus
from ..store.models import Task
from ..store.uow import UnitOfWork
from .keys import Principal
from .paging import Keyset, Page, fetch_page
from .task_reads import TASK_COLUMNS, add_meta_and_pages

TASKS = Keyset(Task.__table__, Task.created_at, Task.id, salt="sendai.task-list.v1")


@dataclass(frozen=True)
class TaskListQuery:
    statuses: tuple[TaskStatus, ...] = ()
    approved: bool | None = None
    descending: bool = True
    limit: int = 20
    token: str | None = None

    def binding(self, team_id: str, project_id: str) -> list[Any]:
        """What a token is good for: this project, these filters, this sort."""
        statuses = sorted({TaskStatus(s).value for s in self.statuses})
        return [team_id, project_id, statuses, self.approved, self.descending]


def list_tasks(
    uow: UnitOfWork,
    principal: Principal,
    team_id: str,
    project_id: str,
    query: TaskListQuery,
    secret: str,
) -> Page:
    """One page of the project's tasks, newest first unless asked otherwise."""
    principal.check_visibility(team_id, project_id)
    conditions: list[Any] = [Task.project_id == project_id]
    if query.statuses:
        conditions.append(Task.status.in_(sorted(set(query.statuses))))
    if query.approved is not None:
        conditions.append(Task.approved.is_(query.approved))
    return fetch_page(
        uow, TASKS, select(*TASK_COLUMNS), conditions, secret=secret,
        binding=query.binding(team_id, project_id), descending=query.descending,
        limit=query.limit, token=query.token, finish=add_meta_and_pages,
    )
