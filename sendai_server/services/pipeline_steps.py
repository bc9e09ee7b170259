"""What the pipeline's jobs read and write on a task, as services (pipeline/steps.py calls them;
the pipeline itself reads no table).

An `extract` job reads first, outside any transaction (`extraction_inputs`), extracts the file
(which may take a while), then makes its effect in one write with the job's completion
(`finish_step`): the task is locked once there, and one that is no longer PROCESSING (a client
discarded it while the job waited, or another job moved it) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from ..domain.lifecycle import TaskStatus
from ..store.models import Annotation, Outcome, Page, Task, UploadFile
from ..store.uow import UnitOfWork
from .projects import ProjectSettings, project_settings
from .task_creation import replace_pages
from .task_reads import TASK_ROW_BY_ID_FOR_UPDATE
from .tasks import fire_on_locked_task


@dataclass(frozen=True)
class ExtractionInputs:
    """What an `extract` job needs before it extracts: the project's settings, the task's file
    (sha256, file_type, body_sha256: an email body to prepend, docs/project-settings.md) if it
    has one, an outcome registered for those bytes (status, pages),
    and, for a task made without a file, its annotations' count and lowest confidence."""

    settings: ProjectSettings
    file: Any | None
    outcome: Any | None
    annotations: tuple[int, float | None]


def extraction_inputs(uow: UnitOfWork, task_id: str) -> ExtractionInputs | None:
    """None when the task is gone or no longer PROCESSING: the job has nothing to do."""
    with uow.read() as conn:
        task = conn.execute(
            select(Task.project_id, Task.status).where(Task.id == task_id)).first()
        if task is None or task.status != TaskStatus.PROCESSING:
            return None
        file = conn.execute(
            select(UploadFile.sha256, UploadFile.file_type, UploadFile.body_sha256)
            .where(UploadFile.task_id == task_id)
        ).first()
        outcome = None if file is None else conn.execute(
            select(Outcome.status, Outcome.pages).where(
                Outcome.project_id == task.project_id, Outcome.sha256 == file.sha256)
        ).first()
        annotations: tuple[int, float | None] = (0, None)
        if file is None and outcome is None:
            count, lowest = conn.execute(
                select(func.count(Annotation.id), func.min(Annotation.confidence))
                .join(Page, Page.id == Annotation.page_id).where(Page.task_id == task_id)
            ).one()
            annotations = (int(count), lowest)
        return ExtractionInputs(project_settings(conn, task.project_id), file, outcome,
                                annotations)


def finish_step(
    conn: Connection, task_id: str, *, pages: list[dict[str, Any]] | None, trigger: str | None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Inside the job's `uow.write()`: lock the task once; if it is still PROCESSING, replace
    its pages (when given) and fire `trigger` (when given) in the project it is in now. Whether
    the task was still PROCESSING."""
    rows = TASK_ROW_BY_ID_FOR_UPDATE.dicts(conn, {"task_id": task_id})
    if not rows or rows[0]["status"] != TaskStatus.PROCESSING:
        return False
    if pages is not None:
        replace_pages(conn, task_id, pages)
    if trigger is not None:
        fire_on_locked_task(conn, rows[0], trigger, key_id=None, request_id=None,
                            details=details)
    return True
