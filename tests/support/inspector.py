"""The inspector in-process (docs/inspector.md): signing in with a key through the form and its
CSRF token, a task's page, running the extraction jobs, and the sample documents its tests use."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import storage_of
from tests.support import documents
from tests.support.helpers import REPO_ROOT

INVOICE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: FlaskClient, key: str) -> Any:
    token = csrf(client.get("/inspect/sign-in").text)
    return client.post("/inspect/sign-in", data={"key": key, "csrf_token": token})


def task_page(seed: dict[str, Any], task_id: str, action: str = "") -> str:
    path = f"/inspect/{seed['team_id']}/project/{seed['project_id']}/task/{task_id}"
    return f"{path}/{action}" if action else path


def run_extraction(app: Flask, uow: UnitOfWork) -> None:
    from sendai_server.pipeline import steps
    from sendai_server.store import jobs

    storage = storage_of(app)
    while (job := jobs.claim(uow, "test", 60, ["extract"])) is not None:
        steps.extract_task(uow, storage, job)


def statement_pdf() -> bytes:
    """Three pages: the sample invoice; a dense statement (three fields a line, lines 13 pt
    apart, so labels must find room elsewhere); a short page."""
    dense = [(72.0, 800.0, 14.0, "Statement of account")]
    y = 770.0
    for n in range(1, 19):
        dense.append((72.0, y, 10.0, f"Invoice No. INV-{n:04d}  dated {n:02d}.04.2024  "
                                     f"billing{n}@shop.example"))
        y -= 13
    dense.append((72.0, y - 20, 12.0, "Total: 4,321.00 EUR"))
    return documents.make_pdf([documents.INVOICE_LINES, dense,
                               [(72, 770, 12, "Terms: 30 days"), (300, 400, 12,
                                                                  "Date: 01.05.2024")]])
