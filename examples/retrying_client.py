"""Failure handling a team adds to its Send AI client (docs/failures.md):
retry what may succeed later, and know when a retry meets a change that already went through.
Nothing here knows about sendai-server either; test_failure_handling.py provokes the failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests
from invoice_client import SendAI, SendAIError

# Worth another try: rate limited, and what a load balancer answers for a bad moment.
RETRYABLE = {429, 500, 502, 503, 504}


def discard_with_retries(client: SendAI, task_id: str, attempts: int = 4,
                         sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Discard the task, retrying a retryable answer (after its Retry-After, else 0.1, 0.2,
    0.4 s) or a lost one (no answer at all), `attempts` times in all.

    A 5xx or a lost answer does not say whether the discard happened: it may have committed
    before the answer was lost. So when a retry then meets `invalid_task_state`, the task is
    read: DISCARDED means an earlier attempt did it, which is success."""
    unsure = False  # an earlier attempt may have gone through
    for attempt in range(attempts):
        try:
            response = client.http.post(f"{client.url}/task/{task_id}/discard", timeout=30)
        except requests.ConnectionError:
            unsure = True
            sleep(0.1 * 2 ** attempt)
            continue
        if response.status_code in RETRYABLE:
            unsure = unsure or response.status_code >= 500
            sleep(float(response.headers.get("Retry-After", 0.1 * 2 ** attempt)))
            continue
        try:
            task: dict[str, Any] = SendAI._answer(response)["payload"]
            return task
        except SendAIError as refused:
            if unsure and refused.code == "invalid_task_state":
                task = client.get_task(task_id)
                if task["status"] == "DISCARDED":
                    return task
            raise
    raise SendAIError(503, "gave_up", f"discard of {task_id} failed {attempts} times")


class NotificationInbox:
    """A webhook endpoint's memory of the notifications it has acted on, by event id: Send AI
    delivers at least once, so the same notification (the same `id`) may arrive twice."""

    def __init__(self, act: Callable[[dict[str, Any]], Any]) -> None:
        self.act = act
        self.seen: set[str] = set()

    def receive(self, notification: dict[str, Any]) -> bool:
        """Act on the notification unless it was acted on already; whether it was acted on.
        (In production `seen` is a table with the id as its key, written with the action.)"""
        if notification["id"] in self.seen:
            return False
        self.act(notification)
        self.seen.add(notification["id"])
        return True
