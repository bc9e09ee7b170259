"""`sendai.fault(...)`: a fault for the length of a `with` block (docs/failures.md), made and
removed over HTTP with the plugin's client, as a test's own client would see it.

    with sendai.fault("discardTask", status=503, times=2) as made:
        ...  # the team's next two discards answer 503
        assert made.hits == 1  # read from the server now
    # gone here, whatever happened inside; made.hits is what it was when deleted

Keyword arguments are the rule's fields, flat: the match's (`method`, `path`, `project_id`,
`task_id`, `event`, `connector_id`), the effect's (`status`, `retry_after`, `body`, `after`,
`delay_ms`, `drop`, `duplicate`) and `times`, `probability`, `seed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .client import SendAIHelperError

MATCH_FIELDS = ("method", "path", "project_id", "task_id", "event", "connector_id")
EFFECT_FIELDS = ("status", "retry_after", "body", "after", "delay_ms", "drop", "duplicate")
RULE_FIELDS = ("times", "probability", "seed")
FAULTS_PATH = "/test_helpers/faults"
# The figures that change while the fault lives: read from the server each time they are asked.
LIVE_FIGURES = ("hits", "remaining")

TeamCall = Callable[..., dict[str, Any]]
"""`SendAIProject._team_call`: (method, path under /v2/{team_id}, JSON body) -> answer."""


def rule_of(operation: str | None, **fields: Any) -> dict[str, Any]:
    """The rule's JSON from flat keyword arguments; an unknown one is a TypeError."""
    unknown = set(fields) - set(MATCH_FIELDS + EFFECT_FIELDS + RULE_FIELDS)
    if unknown:
        raise TypeError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    match = {name: fields[name] for name in MATCH_FIELDS if name in fields}
    if operation is not None:
        match = {"operation": operation, **match}
    effect = {name: fields[name] for name in EFFECT_FIELDS if name in fields}
    rule = {name: fields[name] for name in RULE_FIELDS if name in fields}
    return {"match": match, "effect": effect, **rule}


class FaultHandle(Mapping[str, Any]):
    """The fault as the server has it. `hits` and `remaining` (as attributes or as
    `handle["hits"]`) are asked of the server when read, so they are the figures of that
    moment; once the fault is deleted (the block is left), they are its last figures. The
    other fields (`id`, `match`, `effect`, `times`, `probability`, `seed`, `created_at`) do
    not change."""

    def __init__(self, team_call: TeamCall, made: dict[str, Any]) -> None:
        self._team_call = team_call
        self._last = dict(made)
        self._deleted = False

    @property
    def id(self) -> str:
        return str(self._last["id"])

    @property
    def hits(self) -> int:
        """How many answers (or deliveries) the fault has made so far."""
        return int(self._current()["hits"])

    @property
    def remaining(self) -> int | None:
        """How many more it will make; None: until it is deleted."""
        remaining = self._current()["remaining"]
        return None if remaining is None else int(remaining)

    def _current(self) -> dict[str, Any]:
        if not self._deleted:
            listed = self._team_call("GET", FAULTS_PATH)["payload"]
            found = next((f for f in listed if f["id"] == self.id), None)
            if found is None:  # deleted by someone else (a `clear` inside the block)
                self._deleted = True
            else:
                self._last = found
        return self._last

    def deleted(self, last: Mapping[str, Any] | None) -> None:
        """The fault is gone; `last` is how the server had it then (None: not known)."""
        if last is not None:
            self._last = dict(last)
        self._deleted = True

    def __getitem__(self, name: str) -> Any:
        if name in LIVE_FIGURES:
            return self._current()[name]
        return self._last[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def __repr__(self) -> str:
        shown = {name: self._last.get(name) for name in ("id", "match", "effect", "times")}
        return f"<FaultHandle {shown}>"


@contextmanager
def fault(team_call: TeamCall, operation: str | None = None,
          **fields: Any) -> Iterator[FaultHandle]:
    """Make the fault, yield its handle (`id`, live `hits` and `remaining`, ...), and delete
    it on leaving the block, also when the block raised. A refused rule raises
    SendAIHelperError (its `status` and `body`: 400 `validation_error` naming the field)."""
    made = team_call("POST", FAULTS_PATH, rule_of(operation, **fields))["payload"]
    handle = FaultHandle(team_call, made)
    try:
        yield handle
    finally:
        try:
            handle.deleted(team_call("DELETE", f"{FAULTS_PATH}/{handle.id}")["payload"])
        except SendAIHelperError as exc:
            if exc.status != 404:  # gone already (a `clear` inside the block) is fine
                raise
            handle.deleted(None)
