"""API lookup connectors (Send AI's `api-lookup` template): when a task is completed, each
annotation of an entity a lookup connector of its project is bound to is POSTed to it first,
and the answer sets the annotation's content and confidence.

`look_up` runs before the completion's transaction and holds no lock or connection while it
waits: it reads what it needs, gives the connection back, then asks. The completion
(services/tasks.py) then writes the answers in its own write, after the state check, so a
refused completion changes nothing. An `errorMessage` refuses the completion (400
`validation_error`, `details` a list naming each annotation); a lookup that fails (no answer
in the timeout, a 5xx, an answer that is not the template's) refuses it as 503 `unavailable`.
"""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
from sqlalchemy import select

from ..domain import clock
from ..domain.errors import Unavailable, ValidationError
from ..domain.lifecycle import TaskStatus
from ..services.tasks import AnnotationAnswer, LookupResult
from ..store.models import Annotation, Connector, Page, Task
from ..store.uow import UnitOfWork

TIMEOUT_SECONDS = 10.0


def look_up(uow: UnitOfWork, project_id: str, task_id: str, *,
            timeout: float = TIMEOUT_SECONDS) -> LookupResult | None:
    """The lookups' answers for a REVIEWING task of a project with lookup connectors; None
    when there is nothing to ask (the completion then goes on, or is refused, as usual)."""
    with uow.read() as conn:
        lookups = conn.execute(
            select(Connector.id, Connector.url, Connector.method, Connector.headers,
                   Connector.bearer, Connector.entity_ids)
            .where(Connector.project_id == project_id, Connector.kind == "api_lookup",
                   Connector.disabled_at.is_(None))
            .order_by(Connector.created_at, Connector.id)
        ).all()
        if not lookups:
            return None
        status = conn.scalar(select(Task.status).where(Task.id == task_id,
                                                       Task.project_id == project_id))
        if status != TaskStatus.REVIEWING:
            return None  # the completion's own check answers (404 or invalid_task_state)
        bound = {e for c in lookups for e in (c.entity_ids or ())}
        annotations = conn.execute(
            select(Annotation.id, Annotation.entity_id, Annotation.content,
                   Annotation.confidence)
            .join(Page, Page.id == Annotation.page_id)
            .where(Page.task_id == task_id, Annotation.entity_id.in_(sorted(bound)))
            .order_by(Page.position, Annotation.position)
        ).all()
    uow.close()  # no connection held while the lookups answer
    answers: list[AnnotationAnswer] = []
    errors: list[dict[str, str]] = []
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for annotation in annotations:
            for lookup in lookups:
                if annotation.entity_id not in (lookup.entity_ids or ()):
                    continue
                answer = _ask(client, lookup, annotation)
                if answer.get("errorMessage"):
                    errors.append({"annotation_id": annotation.id,
                                   "entity_id": annotation.entity_id,
                                   "message": str(answer["errorMessage"])})
                    continue
                answers.append(_answer_of(annotation, answer))
    if errors:
        raise ValidationError(
            f"The API lookup refused {len(errors)} annotation(s); the task was not completed.",
            cast(Any, errors),  # a list, as Send AI's template reports them
        )
    return LookupResult(answers)


def _ask(client: httpx.Client, lookup: Any, annotation: Any) -> dict[str, Any]:
    body = {
        "id": annotation.id, "name": annotation.entity_id, "name_id": annotation.entity_id,
        "type": "API_LOOKUP", "entity_id": annotation.entity_id,
        "content": annotation.content, "accuracy": annotation.confidence,
        "created_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "context": {annotation.entity_id: annotation.content},
    }
    headers = {**(lookup.headers or {}), "Content-Type": "application/json"}
    if lookup.bearer:
        headers["Authorization"] = f"Bearer {lookup.bearer}"
    try:
        response = client.request(lookup.method or "POST", lookup.url,
                                  content=json.dumps(body), headers=headers)
    except httpx.HTTPError as exc:
        raise _failed(lookup.id, f"no answer ({type(exc).__name__})") from exc
    if not response.is_success:
        raise _failed(lookup.id, f"it answered {response.status_code}")
    try:
        answer = response.json()
    except ValueError as exc:
        raise _failed(lookup.id, "its answer is not JSON") from exc
    if not isinstance(answer, dict) or ("value" not in answer and not answer.get("errorMessage")):
        raise _failed(lookup.id, "its answer has no value")
    return answer


def _failed(connector_id: str, why: str) -> Unavailable:
    return Unavailable(f"The API lookup connector {connector_id} failed: {why}; the task was "
                       "not completed.")


def _answer_of(annotation: Any, answer: dict[str, Any]) -> AnnotationAnswer:
    """`accuracy: -1` (or none): a value stated, confidence 1; else the accuracy, a fraction
    (or a percentage above 1)."""
    accuracy = answer.get("accuracy")
    confidence = 1.0
    if isinstance(accuracy, int | float) and not isinstance(accuracy, bool) and accuracy >= 0:
        confidence = min(1.0, accuracy / 100 if accuracy > 1 else float(accuracy))
    value = answer.get("value")
    content = annotation.content if value is None else str(value)
    warning = answer.get("warningMessage")
    return AnnotationAnswer(annotation.id, annotation.entity_id, content[:100_000], confidence,
                            str(warning) if warning else None)
