"""An integration a team might write against Send AI's documentation: upload an invoice, wait
for its task to come out of processing, read its total, and discard the task so nobody reviews
it (`import_invoice`); or, for invoices uploaded elsewhere, read the total and discard only the
tasks that have none (`triage_invoice`); or, instead of polling, let Send AI say when an
upload is in review and import its invoices then (`handle_notification`, called by the team's
webhook endpoint with the notification's JSON). Nothing here knows about sendai-server; its
tests (test_invoice_client.py) only point `base_url` at it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

SEND_AI = "https://api.send.ai"
# Statuses a task does not leave by itself: waiting for REVIEWING past them would never end.
SETTLED = {"COMPLETED", "FAILED", "DISCARDED", "FILTERED"}


class SendAIError(Exception):
    """Send AI refused a request: its HTTP status and the error's stable `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class NotForReview(Exception):
    """The task settled without going to review (it failed, was filtered, ...)."""

    def __init__(self, task: dict[str, Any]) -> None:
        super().__init__(f"task {task['id']} is {task['status']}; it will not be reviewed")
        self.task = task


class SendAI:
    """The few calls this integration makes, for one project."""

    def __init__(self, api_key: str, team_id: str, project_id: str, *,
                 base_url: str = SEND_AI, poll_interval: float = 2.0) -> None:
        self.url = f"{base_url}/v2/{team_id}/project/{project_id}"
        self.project_id = project_id
        self.poll_interval = poll_interval
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {api_key}"

    def upload(self, path: str | Path, meta: dict[str, str] | None = None) -> dict[str, Any]:
        """Upload one document, as Send AI's upload guide does (multipart, `file` and
        `projectId`); its answer: `id`, `status`, `taskIds`, ..."""
        path = Path(path)
        data = {"projectId": self.project_id}
        if meta:
            data["meta"] = json.dumps([{"name": k, "value": v} for k, v in meta.items()])
        with path.open("rb") as file:
            response = self.http.post(f"{self.url}/upload", data=data,
                                      files={"file": (path.name, file, "application/pdf")},
                                      timeout=120)
        answer: dict[str, Any] = self._answer(response)
        return answer

    def get_task(self, task_id: str) -> dict[str, Any]:
        return self._call("GET", f"/task/{task_id}")

    def discard_task(self, task_id: str) -> dict[str, Any]:
        return self._call("POST", f"/task/{task_id}/discard")

    def wait_until_in_review(self, task_id: str, timeout: float = 600.0) -> dict[str, Any]:
        """Poll until the task is REVIEWING and return it. NotForReview if it settles in
        another status; TimeoutError if it is still processing after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.get_task(task_id)
            if task["status"] == "REVIEWING":
                return task
            if task["status"] in SETTLED:
                raise NotForReview(task)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"task {task_id} still {task['status']} after {timeout} s")
            time.sleep(self.poll_interval)

    def _call(self, method: str, path: str) -> dict[str, Any]:
        task: dict[str, Any] = self._answer(self.http.request(method, self.url + path,
                                                              timeout=30))["payload"]
        return task

    @staticmethod
    def _answer(response: requests.Response) -> Any:
        if response.status_code >= 400:
            error = response.json()["error"]
            raise SendAIError(response.status_code, error["code"], error["message"])
        return response.json()


def invoice_total(task: dict[str, Any]) -> Decimal | None:
    """The `total_amount` annotation's content as a number ("$1,234.56" → 1234.56), or None."""
    for page in task["pages"]:
        for annotation in page["annotations"]:
            if annotation["entity_id"] == "total_amount":
                return Decimal(re.sub(r"[^0-9.\-]", "", annotation["content"]))
    return None


def triage_invoice(client: SendAI, task_id: str, timeout: float = 600.0) -> Decimal | None:
    """Wait for the invoice's task to be in review and return its total; discard it first when
    it has none, so that nobody reviews it."""
    task = client.wait_until_in_review(task_id, timeout)
    total = invoice_total(task)
    if total is None:
        client.discard_task(task_id)
    return total


@dataclass(frozen=True)
class ImportedInvoice:
    task_id: str
    total: Decimal | None


def import_invoice(client: SendAI, path: str | Path, timeout: float = 600.0) -> ImportedInvoice:
    """Upload the invoice at `path`, wait until its task is in review, read its total and
    discard the task: the total is all this integration needs, so nobody has to review it.
    NotForReview when Send AI settles it otherwise (it could not read the file, or completed
    it by itself); TimeoutError when it is still processing after `timeout` seconds."""
    [task_id] = client.upload(path, meta={"source": "invoice-import"})["taskIds"]
    task = client.wait_until_in_review(task_id, timeout)
    total = invoice_total(task)
    client.discard_task(task_id)
    return ImportedInvoice(task_id, total)


def handle_notification(client: SendAI, notification: dict[str, Any]) -> list[ImportedInvoice]:
    """What the webhook endpoint does with one of Send AI's notifications (its JSON payload:
    `event`, `upload`, `task`, ...). UPLOAD_IN_REVIEW: each of the upload's tasks still in
    review has its total read and is discarded, as `import_invoice` does; what was imported,
    in the upload's file order. Any other event, or a task a person took meanwhile: nothing.
    Send AI delivers at least once, so the same notification may come twice: a task already
    discarded is skipped, not an error."""
    if notification.get("event") != "UPLOAD_IN_REVIEW":
        return []
    files = notification["upload"]["files"]  # task id -> its file, with the file's index
    imported = []
    for task_id in sorted(files, key=lambda task_id: files[task_id]["index"]):
        task = client.get_task(task_id)
        if task["status"] != "REVIEWING":
            continue
        total = invoice_total(task)
        client.discard_task(task_id)
        imported.append(ImportedInvoice(task_id, total))
    return imported
