"""The lifecycle table against API.md §4 and §6, written out independently: every (status,
approved, exported, trigger) case, with no database. And the diagram: the README's copy and
`sendai-server lifecycle` must both equal what the table draws."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sendai_server.cli import main
from sendai_server.lifecycle import (
    MACHINE,
    PIPELINE_EVENTS,
    TRANSITIONS,
    TRIGGERS,
    USER_ACTIONS,
    TaskStatus,
    fire,
    mermaid_diagram,
)

README = Path(__file__).resolve().parent.parent / "README.md"
EXPORTED = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
ALL = {"PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"}
NOT_PROCESSING = ALL - {"PROCESSING"}


@dataclass
class Task:
    status: TaskStatus
    approved: bool
    exported_at: datetime | None
    export_failed_at: datetime | None = None


# API.md, read as a table: trigger → (statuses it may fire from, extra condition, effect).
# The effect returns the changes it makes: new status and flags.
def _expected(status: str, approved: bool, exported: bool, trigger: str) -> dict[str, Any] | None:
    """What API.md says firing `trigger` does, or None when it must be refused."""
    if trigger == "discard":
        return {"status": "DISCARDED"} if status == "REVIEWING" else None
    if trigger == "complete":
        return {"status": "PROCESSING"} if status == "REVIEWING" else None
    if trigger == "unlock":
        ok = status in {"COMPLETED", "FILTERED"} and not exported
        return {"status": "REVIEWING"} if ok else None
    if trigger == "approve":
        return {"approved": True} if status != "PROCESSING" and not approved else None
    if trigger == "disapprove":
        return {"approved": False} if status != "PROCESSING" and approved else None
    if trigger == "report":
        return {} if status != "PROCESSING" else None
    pipeline = {"to_review": "REVIEWING", "auto_complete": "COMPLETED", "fail": "FAILED",
                "filter": "FILTERED"}
    if trigger in pipeline:
        return {"status": pipeline[trigger]} if status == "PROCESSING" else None
    if trigger == "retry":
        return {"status": "PROCESSING"} if status == "FAILED" else None
    if trigger == "export":
        return {"exported_at": "set"} if status == "COMPLETED" else None
    if trigger == "export_fail":
        return {"export_failed_at": "set"} if status == "COMPLETED" else None
    raise AssertionError(f"API.md says nothing about {trigger!r}")


# Where API.md says an action may fire from, for the refusal's details.allowed.
ALLOWED_FROM = {
    "discard": {"REVIEWING"}, "complete": {"REVIEWING"}, "unlock": {"COMPLETED", "FILTERED"},
    "approve": NOT_PROCESSING, "disapprove": NOT_PROCESSING, "report": NOT_PROCESSING,
    "to_review": {"PROCESSING"}, "auto_complete": {"PROCESSING"}, "fail": {"PROCESSING"},
    "filter": {"PROCESSING"}, "retry": {"FAILED"}, "export": {"COMPLETED"},
    "export_fail": {"COMPLETED"},
}

CASES = list(itertools.product(sorted(ALL), [False, True], [False, True], TRIGGERS))


def test_the_table_has_exactly_the_triggers_api_md_names() -> None:
    table = {row["trigger"] for row in TRANSITIONS}
    assert table == set(TRIGGERS) == set(ALLOWED_FROM)
    assert set(USER_ACTIONS) == {"discard", "complete", "unlock", "approve", "disapprove",
                                 "report"}
    assert set(PIPELINE_EVENTS) == {"to_review", "auto_complete", "fail", "filter", "retry",
                                    "export", "export_fail"}
    assert set(MACHINE.events) == set(TRIGGERS)  # no auto-transitions (to_X) sneak in


@pytest.mark.parametrize("status, approved, exported, trigger", CASES)
def test_every_status_and_trigger_does_what_api_md_says(
    status: str, approved: bool, exported: bool, trigger: str
) -> None:
    task = Task(TaskStatus(status), approved, EXPORTED if exported else None)
    refusal = fire(task, trigger)
    expected = _expected(status, approved, exported, trigger)
    if expected is None:
        assert refusal is not None, f"{trigger} from {status} should be refused"
        assert (task.status, task.approved) == (status, approved)  # untouched
        assert task.exported_at == (EXPORTED if exported else None)
        assert task.export_failed_at is None
        assert refusal.details["status"] == status
        assert set(refusal.details["allowed"]) == ALLOWED_FROM[trigger]
        if status in ALLOWED_FROM[trigger]:  # refused by a guard: it names the field
            field = "exported_at" if trigger == "unlock" else "approved"
            expected_value = "2024-01-15T10:30:00Z" if field == "exported_at" else approved
            assert refusal.details[field] == expected_value
        return
    assert refusal is None, f"{trigger} from {status} should fire: {refusal}"
    assert task.status == expected.get("status", status)
    assert task.approved is expected.get("approved", approved)
    if expected.get("exported_at") == "set":
        assert task.exported_at is not None and task.exported_at != EXPORTED
    else:
        assert task.exported_at == (EXPORTED if exported else None)
    assert (task.export_failed_at is not None) == ("export_failed_at" in expected)


def test_discarded_is_final() -> None:
    for trigger in TRIGGERS:
        task = Task(TaskStatus.DISCARDED, False, None)
        fire(task, trigger)
        assert task.status == TaskStatus.DISCARDED


def test_unknown_trigger_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        fire(Task(TaskStatus.REVIEWING, False, None), "to_DISCARDED")


# --- the diagram ------------------------------------------------------------------------------

def _readme_diagram() -> str:
    match = re.search(r"## Lifecycle\n.*?```mermaid\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md needs a '## Lifecycle' section with a ```mermaid block"
    return match.group(1)


def test_readme_diagram_is_the_one_the_table_draws() -> None:
    assert _readme_diagram() == mermaid_diagram(), (
        "README.md's lifecycle diagram is stale: paste the output of `sendai-server lifecycle`"
    )


def test_lifecycle_command_prints_the_diagram() -> None:
    result = CliRunner().invoke(main, ["lifecycle"])
    assert result.exit_code == 0
    assert result.output == mermaid_diagram()


def test_diagram_is_mermaid_and_draws_every_transition() -> None:
    diagram = mermaid_diagram()
    assert "stateDiagram-v2" in diagram
    assert "[*] --> PROCESSING" in diagram
    for row in TRANSITIONS:
        sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
        for source in sources:
            dest = row["dest"] or source
            edge = re.search(rf"^\s*{source} --> {dest}: (.*)$", diagram, re.M)
            assert edge and row["trigger"] in edge.group(1).split(), (row["trigger"], source)
