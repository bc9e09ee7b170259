"""The lifecycle table against docs/api/tasks.md, docs/api/test-helpers.md, written out
independently: every (status, approved, exported, trigger) case, with no database. And the diagram:
docs/lifecycle.md's copy,
its picture docs/lifecycle.svg and `sendai-server lifecycle` (both in tests/app/
test_lifecycle_pictures.py) must all be what the table draws."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sendai_server.domain.lifecycle import (
    MACHINE,
    PIPELINE_EVENTS,
    TRANSITIONS,
    TRIGGERS,
    USER_ACTIONS,
    TaskStatus,
    build_machine,
    fire,
    mermaid_diagram,
    opens_task,
)
from tests.support import lifecycle_rules as rules

DOCS = Path(__file__).resolve().parents[2] / "docs"
LIFECYCLE_PAGE = DOCS / "lifecycle.md"
LIFECYCLE_SVG = DOCS / "lifecycle.svg"
EXPORTED = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
ALL = {"PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"}
NOT_PROCESSING = ALL - {"PROCESSING"}


@dataclass
class Task:
    status: TaskStatus
    approved: bool
    exported_at: datetime | None
    export_failed_at: datetime | None = None


CASES = list(itertools.product(rules.STATUSES, [False, True], [False, True], rules.TRIGGERS))


def test_the_table_has_exactly_the_triggers_api_md_names() -> None:
    table = {row["trigger"] for row in TRANSITIONS}
    assert table == set(TRIGGERS) == set(rules.TRIGGERS)
    assert list(USER_ACTIONS) == rules.PERSON_ACTIONS
    assert list(PIPELINE_EVENTS) == rules.PIPELINE_EVENTS
    assert {t for t in TRIGGERS if opens_task(t)} == rules.OPENS_TASK
    assert set(MACHINE.events) == set(TRIGGERS)  # no auto-transitions (to_X) sneak in


@pytest.mark.parametrize("status, approved, exported, trigger", CASES)
def test_every_status_and_trigger_does_what_api_md_says(
    status: str, approved: bool, exported: bool, trigger: str
) -> None:
    task = Task(TaskStatus(status), approved, EXPORTED if exported else None)
    refusal = fire(task, trigger)
    expected = rules.expected(status, approved, exported, trigger)
    if expected is None:
        assert refusal is not None, f"{trigger} from {status} should be refused"
        assert (task.status, task.approved) == (status, approved)  # untouched
        assert task.exported_at == (EXPORTED if exported else None)
        assert task.export_failed_at is None
        assert refusal.details["status"] == status
        assert refusal.details["allowed"] == rules.ALLOWED_FROM[trigger]
        if status in rules.ALLOWED_FROM[trigger]:  # refused by a guard: it names the field
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


def test_a_guard_that_declares_no_field_is_refused_when_the_machine_is_built() -> None:
    def undeclared(event: Any) -> bool:
        return True

    row = {"trigger": "nudge", "source": TaskStatus.REVIEWING, "dest": None,
           "conditions": undeclared, "by": "person", "opens": False, "past": "nudged"}
    with pytest.raises(ValueError, match="declares no field"):
        build_machine([row])


def test_a_row_without_its_facts_is_refused_when_the_machine_is_built() -> None:
    row = {"trigger": "nudge", "source": TaskStatus.REVIEWING, "dest": None}
    with pytest.raises(ValueError, match="lacks by, opens, past"):
        build_machine([row])


def test_discarded_is_final() -> None:
    for trigger in TRIGGERS:
        task = Task(TaskStatus.DISCARDED, False, None)
        fire(task, trigger)
        assert task.status == TaskStatus.DISCARDED


def test_unknown_trigger_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        fire(Task(TaskStatus.REVIEWING, False, None), "to_DISCARDED")


# --- the diagram --------------------------------------------------------------------------------

def _page_diagram() -> str:
    page = LIFECYCLE_PAGE.read_text()
    match = re.search(r"## The diagram as text\n.*?```mermaid\n(.*?)```", page, re.S)
    assert match, "docs/lifecycle.md needs '## The diagram as text' with a ```mermaid block"
    return match.group(1)


def test_the_docs_diagram_is_the_one_the_table_draws() -> None:
    assert _page_diagram() == mermaid_diagram(), (
        "docs/lifecycle.md's diagram is stale: paste the output of `sendai-server lifecycle`"
    )


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
