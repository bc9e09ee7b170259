"""Creating tasks in bulk: the CLI, the demo seed and the test helpers all come through here.

Rows go in with executemany INSERTs per table, so 40,000 tasks take seconds, and each task
gets its `create` event in the same transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert

from ..domain import clock
from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.lifecycle import TaskStatus
from ..store.models import ITEM_KINDS, Page, Task, TaskEvent, TaskMeta, Upload
from ..store.uow import UnitOfWork
from .projects import INBOX, folder_ids


@dataclass
class TaskSpec:
    """A task to create. `pages` are public page objects without ids (docs/api/tasks.md)."""

    name: str
    status: TaskStatus = TaskStatus.REVIEWING
    meta: list[dict[str, str]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    step_type: str = "EXTRACT"
    upload_id: str | None = None  # an existing upload's; None: an upload of its own, no files
    approved: bool = False
    exported_at: datetime | None = None


def synthetic_pages(pages: int, annotations: int, rng: random.Random) -> list[dict[str, Any]]:
    """Plausible A4 pages with `annotations` annotations each, for load and demo data."""
    return [
        {
            "width": 2480,
            "height": 3508,
            "annotations": [
                {
                    "entity_id": f"field_{a}",
                    "confidence": round(rng.uniform(0.5, 1.0), 2),
                    "content": f"value {p}.{a}",
                    "top": round(rng.uniform(0, 3400), 1),
                    "left_of_line": round(rng.uniform(0, 2400), 1),
                }
                for a in range(annotations)
            ],
        }
        for p in range(pages)
    ]


# A batch this large gets the planner's statistics refreshed once it is in (PostgreSQL).
ANALYZE_AFTER = 1000
# Parents before children, so foreign keys hold at every statement.
_LOADED_MODELS: tuple[Any, ...] = (
    Upload, Task, TaskMeta, Page, *(kind.model for kind in ITEM_KINDS), TaskEvent
)
_LOADED_TABLES = tuple(model.__tablename__ for model in _LOADED_MODELS)


class _Rows:
    """Rows per table, written out in chunks so memory stays flat for large batches."""

    def __init__(self, conn: Connection, inbox: str) -> None:
        self.conn = conn
        self.inbox = inbox  # where a task's own upload is filed
        self.tables: dict[Any, list[dict[str, Any]]] = {}

    def add(self, model: Any, row: dict[str, Any]) -> None:
        self.tables.setdefault(model, []).append(row)

    def flush(self) -> None:
        for model in _LOADED_MODELS:
            rows = self.tables.pop(model, None)
            if rows:
                self.conn.execute(insert(model.__table__), rows)


def create_tasks(
    uow: UnitOfWork,
    project_id: str,
    specs: Iterable[TaskSpec],
    *,
    key_id: str | None = None,
    request_id: str | None = None,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Create the tasks, each with its pages and a `create` event, in one transaction."""
    with uow.write() as conn:
        task_ids = write_tasks(conn, project_id, specs, key_id=key_id, request_id=request_id,
                               chunk_size=chunk_size, progress=progress)
    if len(task_ids) >= ANALYZE_AFTER and uow.engine.dialect.name == "postgresql":
        # Until autovacuum catches up, PostgreSQL plans reads of a freshly bulk-loaded table
        # from default estimates (hash joins over whole tables: ~100x slower task reads).
        with uow.read() as conn:
            conn.exec_driver_sql(f"ANALYZE {', '.join(_LOADED_TABLES)}")
    return task_ids


def write_tasks(
    conn: Connection,
    project_id: str,
    specs: Iterable[TaskSpec],
    *,
    key_id: str | None = None,
    request_id: str | None = None,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    inbox: str | None = None,
) -> list[str]:
    """The rows of `create_tasks`, inside the caller's `uow.write()` (an upload writes its
    tasks with itself and its jobs). `inbox`: the project's Inbox folder, when the caller
    has looked it up already (once per write)."""
    if inbox is None:
        inbox = folder_ids(conn, project_id).get(INBOX)
    if inbox is None:
        raise NotFound(f"No project {project_id}.")
    start = clock.now()
    rows = _Rows(conn, inbox)
    task_ids: list[str] = []
    for index, spec in enumerate(specs):
        # Distinct created_at values keep "newest first" equal to creation order.
        created_at = start + timedelta(microseconds=index)
        task_ids.append(_add_task(rows, project_id, spec, created_at, key_id, request_id))
        if len(task_ids) % chunk_size == 0:
            rows.flush()
            if progress:
                progress(chunk_size)
    rows.flush()
    if progress:
        progress(len(task_ids) % chunk_size)
    return task_ids


def _add_task(
    rows: _Rows,
    project_id: str,
    spec: TaskSpec,
    created_at: datetime,
    key_id: str | None,
    request_id: str | None,
) -> str:
    task_id = new_id("task")
    status = TaskStatus(spec.status)
    upload_id = spec.upload_id
    if upload_id is None:
        upload_id = "upl_" + task_id.removeprefix("task_")
        rows.add(Upload, {
            "id": upload_id, "project_id": project_id, "name": spec.name[:500],
            "folder_id": rows.inbox, "meta": spec.meta, "moved_at": None,
            "created_at": created_at, "updated_at": created_at,
        })
    rows.add(Task, {
        "id": task_id, "project_id": project_id, "name": spec.name, "created_at": created_at,
        "status": status, "step_type": spec.step_type, "upload_id": upload_id,
        "approved": spec.approved, "exported_at": spec.exported_at, "export_failed_at": None,
        "last_opened_at": None,
    })
    for position, pair in enumerate(spec.meta):
        rows.add(TaskMeta, {"task_id": task_id, "position": position, **pair})
    _add_pages(rows, task_id, spec.pages)
    rows.add(TaskEvent, {
        "id": new_id("evt"), "task_id": task_id, "action": "create", "from_status": None,
        "to_status": status.value, "approved": spec.approved, "key_id": key_id,
        "request_id": request_id, "created_at": created_at, "details": None,
    })
    return task_id


def _add_pages(rows: _Rows, task_id: str, pages: list[dict[str, Any]]) -> None:
    for page_position, page in enumerate(pages):
        page_id = new_id("page")
        rows.add(Page, {
            "id": page_id, "task_id": task_id, "position": page_position,
            "width": page["width"], "height": page["height"],
        })
        for kind in ITEM_KINDS:
            for position, item in enumerate(page.get(kind.key, ())):
                rows.add(kind.model, {
                    **item, "id": new_id(kind.id_prefix), "page_id": page_id,
                    "position": position,
                })


def replace_pages(conn: Connection, task_id: str, pages: list[dict[str, Any]]) -> None:
    """Inside the caller's write: the task's pages (and their items) become `pages`, with fresh
    ids (the pipeline's extraction, and its re-extraction on retry)."""
    conn.execute(delete(Page).where(Page.task_id == task_id))  # items go with their pages
    rows = _Rows(conn, inbox="")
    _add_pages(rows, task_id, pages)
    rows.flush()
