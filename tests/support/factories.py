"""Tasks in any state for tests, and what the database says about them afterwards."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, text

from sendai_server.domain.lifecycle import TaskStatus
from sendai_server.services.task_creation import TaskSpec, create_tasks, synthetic_pages
from sendai_server.store.uow import UnitOfWork

EXPORTED_AT = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def make_task(
    uow: UnitOfWork,
    project_id: str,
    status: str = "REVIEWING",
    *,
    approved: bool = False,
    exported: bool = False,
    pages: int = 1,
    annotations: int = 2,
    name: str = "Factory task",
) -> str:
    import random

    spec = TaskSpec(
        name=name, status=TaskStatus(status), approved=approved,
        exported_at=EXPORTED_AT if exported else None,
        pages=synthetic_pages(pages, annotations, random.Random(0)),
    )
    [task_id] = create_tasks(uow, project_id, [spec])
    return task_id


def task_row(engine: Engine, task_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, approved, exported_at, export_failed_at, last_opened_at "
                 "FROM task WHERE id = :t"), {"t": task_id},
        ).one()
    return {"status": row.status, "approved": bool(row.approved), "exported_at": row.exported_at,
            "export_failed_at": row.export_failed_at, "last_opened_at": row.last_opened_at}


def event_rows(engine: Engine, task_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT action, from_status, to_status, approved, key_id, request_id, details "
                 "FROM task_event WHERE task_id = :t ORDER BY seq"), {"t": task_id},
        ).all()
    return [dict(row._mapping) | {"approved": bool(row.approved)} for row in rows]
