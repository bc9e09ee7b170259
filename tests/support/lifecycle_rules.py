"""docs/api/tasks.md, docs/api/test-helpers.md, read as one table, written out independently of
lifecycle.TRANSITIONS: the unit, HTTP and live tests all check the server against this and nothing
else.

Adding an action: a row here (what it does), a row in TRANSITIONS, a view.
"""

from __future__ import annotations

from typing import Any

STATUSES = ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"]
NOT_PROCESSING = [s for s in STATUSES if s != "PROCESSING"]

# What a person does with an API key (§4), and whether it sets last_opened_at.
PERSON_ACTIONS = ["discard", "complete", "unlock", "approve", "disapprove", "report"]
OPENS_TASK = {"discard", "complete", "unlock", "report"}
# What the pipeline does (§6: the test helpers' `advance` drives these).
PIPELINE_EVENTS = ["to_review", "auto_complete", "fail", "filter", "retry", "export",
                   "export_fail"]
TRIGGERS = PERSON_ACTIONS + PIPELINE_EVENTS

# Where each trigger may fire from (a refusal's details.allowed, in this order).
ALLOWED_FROM = {
    "discard": ["REVIEWING"], "complete": ["REVIEWING"], "unlock": ["COMPLETED", "FILTERED"],
    "approve": NOT_PROCESSING, "disapprove": NOT_PROCESSING, "report": NOT_PROCESSING,
    "to_review": ["PROCESSING"], "auto_complete": ["PROCESSING"], "fail": ["PROCESSING"],
    "filter": ["PROCESSING"], "retry": ["FAILED"], "export": ["COMPLETED"],
    "export_fail": ["COMPLETED"],
}
_PIPELINE_TO = {"to_review": "REVIEWING", "auto_complete": "COMPLETED", "fail": "FAILED",
                "filter": "FILTERED", "retry": "PROCESSING"}


def expected(status: str, approved: bool, exported: bool, trigger: str) -> dict[str, Any] | None:
    """What firing `trigger` changes (`status`, `approved`, `exported_at`/`export_failed_at`:
    "set"), or None when it must be refused."""
    if status not in ALLOWED_FROM[trigger]:
        return None
    if trigger in ("discard", "complete"):
        return {"status": "DISCARDED" if trigger == "discard" else "PROCESSING"}
    if trigger == "unlock":
        return None if exported else {"status": "REVIEWING"}
    if trigger == "approve":
        return None if approved else {"approved": True}
    if trigger == "disapprove":
        return {"approved": False} if approved else None
    if trigger == "report":
        return {}
    if trigger in _PIPELINE_TO:
        return {"status": _PIPELINE_TO[trigger]}
    return {"exported_at" if trigger == "export" else "export_failed_at": "set"}


def after(status: str, approved: bool, exported: bool, trigger: str) -> tuple[str, bool] | None:
    """The (status, approved) a task has after `trigger`, or None when refused."""
    changes = expected(status, approved, exported, trigger)
    if changes is None:
        return None
    return changes.get("status", status), changes.get("approved", approved)
