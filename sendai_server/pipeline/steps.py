"""What the pipeline's jobs do (docs/pipeline.md): `extract` reads a task's file and moves the task
by its project's automation; `auto_complete` finishes a task a person completed.

Each step asks the services what it needs (services/pipeline_steps.py), extracts outside any
transaction (a file may take a while), then makes its effect in one write together with the
job's completion (`jobs.finish`), so a job is done once; the task is locked once there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.file_types import TEXT
from ..services.pipeline_steps import ExtractionInputs, extraction_inputs, finish_step
from ..services.projects import ProjectSettings
from ..store import jobs
from ..store.storage import Storage
from ..store.uow import UnitOfWork
from .extraction import Extraction, extract

Handler = Callable[[UnitOfWork, Any], None]

# A registered outcome's status → the pipeline's trigger that ends there (docs/api/test-helpers.md).
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
    inputs = extraction_inputs(uow, job.task_id)
    plan = None if inputs is None else _plan(storage, inputs)
    with uow.write() as conn:
        if plan is not None:
            finish_step(conn, job.task_id, pages=plan.pages, trigger=plan.trigger,
                        details=plan.details)
        jobs.finish(conn, job)


def _plan(storage: Storage, inputs: ExtractionInputs) -> _Plan:
    settings, file, outcome = inputs.settings, inputs.file, inputs.outcome
    moves = settings.pipeline == "auto"
    if outcome is not None:
        pages = outcome.pages
        if pages is None:
            extracted = _extract(storage, file)
            pages = extracted.pages if extracted.failure is None else []
        return _Plan(pages, _OUTCOME_TRIGGERS[outcome.status] if moves else None)
    if file is None:  # a task made without a file: it keeps its pages
        count, lowest = inputs.annotations
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
    REVIEWING otherwise, and always for the other levels (docs/project-settings.md)."""
    if settings.automation == "auto_process" and count and lowest is not None \
            and lowest >= settings.threshold:
        return "auto_complete"
    return "to_review"


def _extract(storage: Storage, file: Any) -> Extraction:
    """The file's pages; an email attachment's with its email's body text extracted as a
    first page before them (email_prepend_body, docs/project-settings.md)."""
    with storage.open(file.sha256) as stream:
        extracted = extract(stream, file.file_type, file.sha256)
    body = getattr(file, "body_sha256", None)
    if body is None or extracted.failure is not None:
        return extracted
    with storage.open(body) as stream:
        first = extract(stream, TEXT.file_type, body)
    return Extraction(pages=[*first.pages, *extracted.pages])


def auto_complete_task(uow: UnitOfWork, job: Any) -> None:
    """After `complete`, the pipeline finishes the task: PROCESSING → COMPLETED."""
    with uow.write() as conn:
        finish_step(conn, job.task_id, pages=None, trigger="auto_complete")
        jobs.finish(conn, job)
