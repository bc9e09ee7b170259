"""The task lifecycle: the statuses, the one table of every transition, the one Machine.

Every status change in the server goes through `fire`, which runs the shared `MACHINE` on a
task. The machine has no model of its own (pytransitions' recommended shape for many rows):
`MACHINE.events[trigger].trigger(task)` reads and writes `task.status`. There are no
auto-transitions (`to_X()` would bypass every guard).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from transitions import Machine, MachineError

from . import clock
from .job_kinds import AUTO_COMPLETE, EXTRACT


class TaskStatus(enum.StrEnum):
    PROCESSING = "PROCESSING"
    REVIEWING = "REVIEWING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    DISCARDED = "DISCARDED"
    FILTERED = "FILTERED"

    def __str__(self) -> str:
        return self.value


S = TaskStatus
Guard = TypeVar("Guard", bound=Callable[..., bool])
NOT_PROCESSING = [s for s in S if s is not S.PROCESSING]


@dataclass
class LifecycleState:
    """A task's fields the machine reads (the guards) and writes: the one place they are
    declared. A service fires on a copy taken from the locked row and writes back what changed;
    the inspector asks a copy which actions would fire. (Any object with these attributes, an
    ORM Task included, can be fired on too.)"""

    status: TaskStatus
    approved: bool
    exported_at: datetime | None
    export_failed_at: datetime | None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> LifecycleState:
        return cls(**{name: row[name] for name in LIFECYCLE_FIELDS})

    def changes_from(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The fields whose value differs from the row's."""
        return {name: getattr(self, name) for name in LIFECYCLE_FIELDS
                if getattr(self, name) != row[name]}


LIFECYCLE_FIELDS = tuple(f.name for f in fields(LifecycleState))


# Guards and effects. With send_event=True each receives the firing's EventData; its
# .model is the task. The guards' names are the labels of the lifecycle diagram; each declares
# the field it reads (`reads`), which a refusal names in its details.
def reads(field_name: str) -> Callable[[Guard], Guard]:
    def declare(guard: Guard) -> Guard:
        guard.reads = field_name  # type: ignore[attr-defined]
        return guard

    return declare


@reads("approved")
def not_approved(event: Any) -> bool:
    return not event.model.approved


@reads("approved")
def approved(event: Any) -> bool:
    return bool(event.model.approved)


@reads("exported_at")
def not_exported(event: Any) -> bool:
    return event.model.exported_at is None


def _set_approved(event: Any) -> None:
    event.model.approved = True


def _clear_approved(event: Any) -> None:
    event.model.approved = False


def _set_exported_at(event: Any) -> None:
    event.model.exported_at = clock.now()


def _set_export_failed_at(event: Any) -> None:
    event.model.export_failed_at = clock.now()


PERSON, PIPELINE = "person", "pipeline"

# One row per trigger: the machine's transition (trigger, source, dest None for an internal
# transition: the status stays; conditions; after) and the trigger's own facts: `by` who fires
# it (a person with an API key, or the pipeline), `opens` whether it sets last_opened_at
# (docs/api/tasks.md: the actions a person takes on a task, but approve/disapprove), `past` its past
# tense for messages, and `then` the pipeline's job that follows it, after the project's delay
# (docs/pipeline.md; only on projects whose pipeline is `auto`). Everything else about a trigger
# derives from this table.
TRANSITIONS: list[dict[str, Any]] = [
    # What a person (an API key) does. docs/api/tasks.md.
    {"trigger": "discard", "source": S.REVIEWING, "dest": S.DISCARDED,
     "by": PERSON, "opens": True, "past": "discarded"},
    {"trigger": "complete", "source": S.REVIEWING, "dest": S.PROCESSING,
     "by": PERSON, "opens": True, "past": "completed", "then": AUTO_COMPLETE},
    {"trigger": "unlock", "source": [S.COMPLETED, S.FILTERED], "dest": S.REVIEWING,
     "conditions": not_exported, "by": PERSON, "opens": True, "past": "unlocked"},
    {"trigger": "approve", "source": NOT_PROCESSING, "dest": None,
     "conditions": not_approved, "after": _set_approved,
     "by": PERSON, "opens": False, "past": "approved"},
    {"trigger": "disapprove", "source": NOT_PROCESSING, "dest": None,
     "conditions": approved, "after": _clear_approved,
     "by": PERSON, "opens": False, "past": "disapproved"},
    {"trigger": "report", "source": NOT_PROCESSING, "dest": None,
     "by": PERSON, "opens": True, "past": "reported"},
    # What the pipeline does (test helpers drive these). docs/api/test-helpers.md.
    {"trigger": "to_review", "source": S.PROCESSING, "dest": S.REVIEWING,
     "by": PIPELINE, "opens": False, "past": "sent to review"},
    {"trigger": "auto_complete", "source": S.PROCESSING, "dest": S.COMPLETED,
     "by": PIPELINE, "opens": False, "past": "auto-completed"},
    {"trigger": "fail", "source": S.PROCESSING, "dest": S.FAILED,
     "by": PIPELINE, "opens": False, "past": "failed"},
    {"trigger": "filter", "source": S.PROCESSING, "dest": S.FILTERED,
     "by": PIPELINE, "opens": False, "past": "filtered"},
    {"trigger": "retry", "source": S.FAILED, "dest": S.PROCESSING,
     "by": PIPELINE, "opens": False, "past": "retried", "then": EXTRACT},
    {"trigger": "export", "source": S.COMPLETED, "dest": None, "after": _set_exported_at,
     "by": PIPELINE, "opens": False, "past": "exported"},
    {"trigger": "export_fail", "source": S.COMPLETED, "dest": None,
     "after": _set_export_failed_at,
     "by": PIPELINE, "opens": False, "past": "marked as failed to export"},
]

_FACTS = ("by", "opens", "past")
_OPTIONAL_FACTS = ("then",)
FACTS: dict[str, dict[str, Any]] = {
    row["trigger"]: {name: row.get(name) for name in _FACTS + _OPTIONAL_FACTS}
    for row in TRANSITIONS
}
USER_ACTIONS = tuple(t for t, facts in FACTS.items() if facts["by"] == PERSON)
PIPELINE_EVENTS = tuple(t for t, facts in FACTS.items() if facts["by"] == PIPELINE)
TRIGGERS = USER_ACTIONS + PIPELINE_EVENTS


def opens_task(trigger: str) -> bool:
    return bool(FACTS[trigger]["opens"])


def past_tense(trigger: str) -> str:
    return str(FACTS[trigger]["past"])


def follow_up(trigger: str) -> str | None:
    """The pipeline job that follows the trigger, if any."""
    then: str | None = FACTS[trigger]["then"]
    return then


def machine_rows(table: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table's rows as pytransitions takes them (the trigger's facts left out). Refuses a
    row without its facts, and a guard that does not declare the field it reads: such a guard
    would turn a refusal into an error at request time."""
    rows = []
    for row in table:
        missing = [name for name in _FACTS if name not in row]
        if missing:
            raise ValueError(f"transition {row['trigger']!r} lacks {', '.join(missing)}")
        if row["by"] not in (PERSON, PIPELINE):
            raise ValueError(f"transition {row['trigger']!r}: 'by' is {PERSON} or {PIPELINE}")
        conditions = row.get("conditions", [])
        for guard in conditions if isinstance(conditions, list) else [conditions]:
            if not isinstance(getattr(guard, "reads", None), str):
                raise ValueError(
                    f"guard {getattr(guard, '__name__', guard)!r} of {row['trigger']!r} "
                    "declares no field: decorate it with @reads('field')"
                )
        rows.append({
            key: value for key, value in row.items() if key not in _FACTS + _OPTIONAL_FACTS
        })
    return rows


def build_machine(table: list[dict[str, Any]]) -> Machine:
    return Machine(
        model=None,
        states=TaskStatus,
        transitions=machine_rows(table),
        initial=None,
        model_attribute="status",
        auto_transitions=False,
        send_event=True,
    )


MACHINE = build_machine(TRANSITIONS)


@dataclass(frozen=True)
class Refusal:
    """Why a trigger may not fire: the status and the statuses that would allow it, or the
    value of the field a guard read."""

    trigger: str
    status: TaskStatus
    details: dict[str, Any] = field(default_factory=dict)


def allowed_sources(trigger: str) -> list[TaskStatus]:
    return [TaskStatus[name] for name in MACHINE.events[trigger].transitions]


def fire(task: LifecycleState, trigger: str) -> Refusal | None:
    """Run `trigger` on `task`. Returns None when it fired, or the Refusal; never raises for a
    refused transition, and leaves the task untouched when it refuses."""
    if trigger not in MACHINE.events:
        raise KeyError(f"unknown trigger {trigger!r}")
    status = TaskStatus(task.status)
    try:
        fired = MACHINE.events[trigger].trigger(task)
    except MachineError:
        return _refusal(trigger, status)
    if fired:
        return None
    return _refusal(trigger, status, guarded=True, task=task)


def _refusal(
    trigger: str, status: TaskStatus, *, guarded: bool = False, task: Any = None
) -> Refusal:
    allowed = allowed_sources(trigger)
    details: dict[str, Any] = {"status": status.value, "allowed": [s.value for s in allowed]}
    if not guarded:
        return Refusal(trigger, status, details)
    transition = MACHINE.events[trigger].transitions[status.name][0]
    guard: Any = transition.conditions[0].func
    name = guard.reads
    value = getattr(task, name)
    shown = value.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(value, datetime) else value
    details[name] = shown
    return Refusal(trigger, status, details)


def mermaid_diagram() -> str:
    """The lifecycle as a Mermaid stateDiagram-v2, drawn from TRANSITIONS.

    A separate GraphMachine over the same table, never the live MACHINE: graph support adds
    per-model bookkeeping that the shared machine must not carry. The mermaid engine is plain
    text, so no graphviz is needed. New tasks enter the lifecycle in PROCESSING. Styling lines
    (which highlight a model's current state) are dropped: the diagram describes the table,
    not one task. Self-loops are the internal transitions (approve, export...): status stays.
    """
    from transitions.extensions import GraphMachine

    class _Drawing:
        status = TaskStatus.PROCESSING

    drawing = _Drawing()
    GraphMachine(
        model=drawing, states=TaskStatus, transitions=machine_rows(TRANSITIONS),
        initial=S.PROCESSING,
        model_attribute="status", auto_transitions=False, send_event=True,
        graph_engine="mermaid", show_conditions=True, title="Task lifecycle",
    )
    source: str = drawing.get_graph().source  # type: ignore[attr-defined]
    lines = [
        line.rstrip() for line in source.splitlines()
        if not line.strip().startswith(("classDef ", "Class "))
    ]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"
