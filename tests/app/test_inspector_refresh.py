"""The inspector's pages reload themselves only while the pipeline will still move something on
them (issue 21 item 6): `make run`'s demo project is `manual`, and its PROCESSING task, which no
job will ever move, reloaded the task list every 2 s for ever."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from sendai_server.store.jobs import MAX_ATTEMPTS
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth
from tests.support.inspector import INVOICE, run_extraction, sign_in, task_page


def _refreshes(html: str) -> bool:
    """Whether the page asks refresh.js to reload it (the body's data-refresh)."""
    body = re.search(r"<body([^>]*)>", html)
    assert body
    return "data-refresh" in body.group(1) and "refresh.js" in html


def _lists(seed: dict[str, Any]) -> tuple[str, str]:
    base = f"/inspect/{seed['team_id']}/project/{seed['project_id']}"
    return base + "/tasks", base + "/uploads"


@pytest.fixture
def helpers(client: FlaskClient, seed: dict[str, Any]) -> FlaskClient:
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    return client


def test_the_seeds_processing_task_which_nothing_moves_refreshes_no_page(
    helpers: FlaskClient, seed: dict[str, Any]
) -> None:
    tasks, uploads = _lists(seed)
    [resting] = seed["tasks"]["PROCESSING"]
    html = helpers.get(tasks).text
    assert f'data-task-id="{resting}" data-status="PROCESSING"' in html
    assert not _refreshes(html)
    assert "1 PROCESSING task here waits for no job of the pipeline" in html
    assert not _refreshes(helpers.get(uploads).text)
    assert not _refreshes(helpers.get(task_page(seed, resting)).text)


def test_a_task_refreshes_its_pages_while_its_extraction_is_due_and_not_after(
    helpers: FlaskClient, seed: dict[str, Any], app: Flask, uow: UnitOfWork
) -> None:
    tasks, uploads = _lists(seed)
    with INVOICE.open("rb") as pdf:
        answer = helpers.post(f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload",
                              data={"file": (pdf, "invoice.pdf")},
                              headers=auth(seed["keys"]["helpers"]))
    [task_id] = answer.json["taskIds"]
    for path in (tasks, uploads, task_page(seed, task_id)):
        assert _refreshes(helpers.get(path).text), path

    run_extraction(app, uow)  # the project is manual: extracted, still PROCESSING, no job
    html = helpers.get(tasks).text
    assert f'data-task-id="{task_id}" data-status="PROCESSING"' in html
    assert "2 PROCESSING tasks here wait for no job" in html
    for path in (tasks, uploads, task_page(seed, task_id)):
        assert not _refreshes(helpers.get(path).text), path


def test_a_job_given_up_moves_nothing_and_refreshes_nothing(
    helpers: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    tasks, _ = _lists(seed)
    with INVOICE.open("rb") as pdf:
        answer = helpers.post(f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload",
                              data={"file": (pdf, "invoice.pdf")},
                              headers=auth(seed["keys"]["helpers"]))
    [task_id] = answer.json["taskIds"]
    assert _refreshes(helpers.get(tasks).text)
    with engine.begin() as conn:
        conn.execute(text("UPDATE job SET attempts = :n WHERE task_id = :t"),
                     {"n": MAX_ATTEMPTS, "t": task_id})
    assert not _refreshes(helpers.get(tasks).text)
    assert not _refreshes(helpers.get(task_page(seed, task_id)).text)
