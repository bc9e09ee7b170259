"""`sendai.fault(...)`: a fault for the length of a `with` block (API.md §14), made and removed
over HTTP with the plugin's client, as a test's own client would see it.

    with sendai.fault("discardTask", status=503, times=2) as made:
        ...  # the team's next two discards answer 503
    # gone here, whatever happened inside

Keyword arguments are the rule's fields, flat: the match's (`method`, `path`, `project_id`,
`task_id`, `event`, `connector_id`), the effect's (`status`, `retry_after`, `body`, `after`,
`delay_ms`, `drop`, `duplicate`) and `times`, `probability`, `seed`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .client import SendAIHelperError

MATCH_FIELDS = ("method", "path", "project_id", "task_id", "event", "connector_id")
EFFECT_FIELDS = ("status", "retry_after", "body", "after", "delay_ms", "drop", "duplicate")
RULE_FIELDS = ("times", "probability", "seed")
FAULTS_PATH = "/test_helpers/faults"

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


@contextmanager
def fault(team_call: TeamCall, operation: str | None = None,
          **fields: Any) -> Iterator[dict[str, Any]]:
    """Make the fault, yield it as the server answered (`id`, `hits`, ...), and delete it on
    leaving the block, also when the block raised. A refused rule raises SendAIHelperError
    (its `status` and `body`: 400 `validation_error` naming the field)."""
    made = team_call("POST", FAULTS_PATH, rule_of(operation, **fields))["payload"]
    try:
        yield made
    finally:
        try:
            team_call("DELETE", f"{FAULTS_PATH}/{made['id']}")
        except SendAIHelperError as exc:
            if exc.status != 404:  # gone already (a `clear` inside the block) is fine
                raise
