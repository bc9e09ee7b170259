"""What the pipeline's jobs do (API.md §10): `extract` reads a task's file and moves the task
by its project's automation; `auto_complete` finishes a task a person completed.

Each step reads and extracts first, outside any transaction (a file may take a while), then
makes its effect in one write together with the job's completion (`jobs.finish`), so a job is
done once. The task is re-read under its lock there: a task that is no longer PROCESSING (a
client discarded it while the job waited, or another job moved it) is left alone, and the job
is simply finished.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from ..domain.lifecycle import TaskStatus
from ..services.projects import ProjectSettings, project_settings
from ..services.task_creation import replace_pages
from ..services.tasks import fire_on_task
from ..store import jobs
from ..store.models import Annotation, Outcome, Page, Task, UploadFile
from ..store.storage import Storage
from ..store.uow import UnitOfWork
from .extraction import extract

Handler = Callable[[UnitOfWork, Any], None]

# A registered outcome's status → the pipeline's trigger that ends there (API.md §6).
_OUTCOME_TRIGGERS = {"REVIEWING": "to_review", "COMPLETED": "auto_complete", "FAILED": "fail",
                     "FILTERED": "filter"}


@dataclass(frozen=True)
class _Plan:
    """What the extraction decided, before the write."""

    pages: list[dict[str, Any]] | None  # None: the task keeps the pages it has
    trigger: str | None  # None: the task does not move (a manual pipeline)
    details: dict[str, Any] | None = None


def handlers(storage: Storage) -> Mapping[str, Handler]:
    """The pipeline's job handlers, reading files from `storage`."""
    return {
        jobs.EXTRACT: lambda uow, job: extract_task(uow, storage, job),
        jobs.AUTO_COMPLETE: auto_complete_task,
    }


def extract_task(uow: UnitOfWork, storage: Storage, job: Any) -> None:
    with uow.read() as conn:
        task = conn.execute(
            select(Task.project_id, Task.status).where(Task.id == job.task_id)
        ).first()
        if task is None or task.status != TaskStatus.PROCESSING:
            plan = None
        else:
            settings = project_settings(conn, task.project_id)
            file = conn.execute(
                select(UploadFile.sha256, UploadFile.file_type)
                .where(UploadFile.task_id == job.task_id)
            ).first()
            outcome = None if file is None else conn.execute(
                select(Outcome.status, Outcome.pages).where(
                    Outcome.project_id == task.project_id, Outcome.sha256 == file.sha256)
            ).first()
            plan = _plan(conn, storage, job.task_id, settings, file, outcome)
    with uow.write() as conn:
        project_id = _processing_in(conn, job.task_id) if plan is not None else None
        if task is not None and plan is not None and project_id is not None:
            if plan.pages is not None:
                replace_pages(conn, job.task_id, plan.pages)
            if plan.trigger is not None:
                fire_on_task(conn, project_id, job.task_id, plan.trigger, key_id=None,
                             request_id=None, details=plan.details)
        jobs.finish(conn, job)


def _plan(
    conn: Connection, storage: Storage, task_id: str, settings: ProjectSettings,
    file: Any, outcome: Any,
) -> _Plan:
    moves = settings.pipeline == "auto"
    if outcome is not None:
        pages = outcome.pages
        if pages is None:
            extracted = _extract(storage, file)
            pages = extracted.pages if extracted.failure is None else []
        return _Plan(pages, _OUTCOME_TRIGGERS[outcome.status] if moves else None)
    if file is None:  # a task made without a file: it keeps its pages
        count, lowest = conn.execute(
            select(func.count(Annotation.id), func.min(Annotation.confidence))
            .join(Page, Page.id == Annotation.page_id).where(Page.task_id == task_id)
        ).one()
        return _Plan(None, _automated(settings, count, lowest) if moves else None)
    extracted = _extract(storage, file)
    if extracted.failure is not None:
        return _Plan([], "fail" if moves else None, {"reason": extracted.failure})
    pages = extracted.pages
    if settings.automation == "none":
        pages = [{**page, "annotations": []} for page in pages]
    confidences = [a["confidence"] for page in pages for a in page.get("annotations", ())]
    trigger = _automated(settings, len(confidences), min(confidences, default=None))
    return _Plan(pages, trigger if moves else None)


def _automated(settings: ProjectSettings, count: int, lowest: float | None) -> str:
    """auto_process: COMPLETED when there is an annotation and none is below the threshold;
    REVIEWING otherwise, and always for the other levels (API.md §8)."""
    if settings.automation == "auto_process" and count and lowest is not None \
            and lowest >= settings.threshold:
        return "auto_complete"
    return "to_review"


def _extract(storage: Storage, file: Any) -> Any:
    with storage.open(file.sha256) as stream:
        return extract(stream, file.file_type, file.sha256)


def _processing_in(conn: Connection, task_id: str) -> str | None:
    """The task's project if it is still PROCESSING, else None; under the task's lock
    (PostgreSQL; SQLite's write lock is already held). Its project as it is now: the upload
    may have moved to another project while the file was read (API.md §9)."""
    row = conn.execute(select(Task.status, Task.project_id).where(Task.id == task_id)
                       .with_for_update()).first()
    return str(row.project_id) if row is not None and row.status == TaskStatus.PROCESSING \
        else None


def auto_complete_task(uow: UnitOfWork, job: Any) -> None:
    """After `complete`, the pipeline finishes the task: PROCESSING → COMPLETED."""
    with uow.write() as conn:
        row = conn.execute(
            select(Task.project_id, Task.status).where(Task.id == job.task_id).with_for_update()
        ).first()
        if row is not None and row.status == TaskStatus.PROCESSING:
            fire_on_task(conn, row.project_id, job.task_id, "auto_complete", key_id=None,
                         request_id=None)
        jobs.finish(conn, job)
