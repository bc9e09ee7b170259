"""Listing a project's tasks (API.md §4 `GET /task`): filters, keyset pagination, tokens.

Pages are cut on (created_at, id), the same order the index ix_task_project_id_created_at_id
keeps, so a page is an index range and rows added while a client walks the list neither
repeat nor hide the rows it has not seen yet. The token names the last row of the page, and
is signed (itsdangerous) together with the project, the filters and the sort it was made for:
a forged or altered token, or one used with other filters, is a validation error, never
another project's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, tuple_

from ..errors import ValidationError
from ..lifecycle import TaskStatus
from ..models import Task
from ..uow import UnitOfWork
from .keys import Principal
from .task_reads import TASK_COLUMNS, PublicTask, add_meta_and_pages

_SALT = "sendai.task-list.v1"


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


@dataclass(frozen=True)
class TaskPage:
    tasks: list[PublicTask]
    count: int
    more: bool
    token: str | None


def list_tasks(
    uow: UnitOfWork,
    principal: Principal,
    team_id: str,
    project_id: str,
    query: TaskListQuery,
    secret: str,
) -> TaskPage:
    """One page of the project's tasks, newest first unless asked otherwise. Ties in
    created_at are ordered by id. A constant number of statements per page."""
    principal.check_visibility(team_id, project_id)
    serializer = URLSafeSerializer(secret, salt=_SALT)
    binding = query.binding(team_id, project_id)
    after = read_token(serializer, query.token, binding) if query.token else None

    conditions: list[Any] = [Task.project_id == project_id]
    if query.statuses:
        conditions.append(Task.status.in_(sorted(set(query.statuses))))
    if query.approved is not None:
        conditions.append(Task.approved.is_(query.approved))

    key = tuple_(Task.created_at, Task.id)
    page_conditions = list(conditions)
    if after is not None:
        page_conditions.append(key < after if query.descending else key > after)
    order = (
        (Task.created_at.desc(), Task.id.desc()) if query.descending
        else (Task.created_at.asc(), Task.id.asc())
    )
    with uow.read() as conn:
        count = conn.scalar(select(func.count()).select_from(Task).where(*conditions)) or 0
        rows = conn.execute(
            select(*TASK_COLUMNS).where(*page_conditions).order_by(*order).limit(query.limit + 1)
        ).all()
        more = len(rows) > query.limit
        tasks = add_meta_and_pages(conn, [row._asdict() for row in rows[: query.limit]])
    token = make_token(serializer, binding, tasks[-1]) if more else None
    return TaskPage(tasks=tasks, count=count, more=more, token=token)


def make_token(serializer: URLSafeSerializer, binding: list[Any], last: PublicTask) -> str:
    return str(serializer.dumps({"b": binding, "a": [last["created_at"].isoformat(), last["id"]]}))


def _invalid_token(message: str) -> ValidationError:
    return ValidationError(message, {"fields": {"token": [message]}})


def read_token(
    serializer: URLSafeSerializer, token: str, binding: list[Any]
) -> tuple[datetime, str]:
    try:
        document = serializer.loads(token)
    except BadSignature as exc:
        raise _invalid_token(
            "The pagination token is not valid; use the paginationToken of a previous page."
        ) from exc
    if not isinstance(document, dict) or document.get("b") != binding:
        raise _invalid_token(
            "The pagination token was made for another project, other filters or another "
            "sort; repeat the query that produced it."
        )
    try:
        created_at, task_id = document["a"]
        after = datetime.fromisoformat(created_at), str(task_id)
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid_token("The pagination token is not valid.") from exc
    if after[0].tzinfo is None:
        raise _invalid_token("The pagination token is not valid.")
    return after
