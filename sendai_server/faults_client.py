"""A fault for the length of a `with` block (API.md §14), over HTTP: what the pytest plugin's
`sendai.fault(...)` is (sendai_server/testing), usable from any test against any sendai-server.

    with fault(base_url, team_id, helpers_key, "discardTask", status=503, times=2) as made:
        ...  # the team's next two discards answer 503
    # gone here, whatever happened inside

Keyword arguments are the rule's fields, flat: the match's (`method`, `path`, `project_id`,
`task_id`, `event`, `connector_id`), the effect's (`status`, `retry_after`, `body`, `after`,
`delay_ms`, `drop`, `duplicate`) and `times`, `probability`, `seed`. Standard library only.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MATCH_FIELDS = ("method", "path", "project_id", "task_id", "event", "connector_id")
EFFECT_FIELDS = ("status", "retry_after", "body", "after", "delay_ms", "drop", "duplicate")
RULE_FIELDS = ("times", "probability", "seed")
TIMEOUT = 30.0


class FaultRefused(Exception):
    """The server refused to make or remove the fault: its status and JSON error body."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        self.status, self.body = status, body
        super().__init__(f"{method} {url} answered {status}: {body}")


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


def _call(method: str, url: str, key: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, method=method, data=data, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            error: Any = json.loads(raw)
        except ValueError:
            error = raw.decode(errors="replace")
        raise FaultRefused(method, url, exc.code, error) from None


@contextmanager
def fault(base_url: str, team_id: str, key: str, operation: str | None = None,
          **fields: Any) -> Iterator[dict[str, Any]]:
    """Make the fault (`key` needs the `test_helpers` scope), yield it as the server answered
    (`id`, `hits`, ...), and delete it on leaving the block, also when the block raised."""
    url = f"{base_url}/v2/{team_id}/test_helpers/faults"
    made = _call("POST", url, key, rule_of(operation, **fields))["payload"]
    try:
        yield made
    finally:
        try:
            _call("DELETE", f"{url}/{made['id']}", key)
        except FaultRefused as exc:
            if exc.status != 404:  # gone already (a `clear` inside the block) is fine
                raise
