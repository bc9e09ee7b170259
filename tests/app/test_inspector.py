"""The inspector (docs/inspector.md) in-process, over Flask's test client: sign-in and its session,
what a key sees, and the actions, which change exactly what the API's would."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.domain.errors import NotFound
from sendai_server.domain.lifecycle import TRANSITIONS, TaskStatus
from sendai_server.services.keys import revoke_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of
from sendai_server.web.inspect.diagram import lifecycle_svg
from tests.support.helpers import auth, count_rows, task_path
from tests.support.inspector import INVOICE, csrf, run_extraction, sign_in, task_page


def _status(engine: Engine, task_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql(
            "SELECT status FROM task WHERE id = ?" if engine.dialect.name == "sqlite"
            else "SELECT status FROM task WHERE id = %s", (task_id,)).scalar_one())


def _events(engine: Engine, task_id: str) -> int:
    return count_rows(engine, "SELECT count(*) FROM task_event WHERE task_id = :t", t=task_id)


@pytest.fixture
def edit(client: FlaskClient, seed: dict[str, Any]) -> FlaskClient:
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    return client


# --- signing in ---------------------------------------------------------------------------------

def test_the_session_cookie_is_httponly_strict_and_holds_no_key(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    answer = sign_in(client, seed["keys"]["edit"])
    assert answer.status_code == 303 and answer.location.endswith("/inspect/projects")
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/inspect" in cookie
    assert seed["keys"]["edit"] not in cookie


@pytest.mark.parametrize(("which", "message"), [
    ("revoked", "This API key has been revoked."),
    ("unknown", "This server knows no such API key"),
])
def test_sign_in_with_a_revoked_or_unknown_key_fails_with_a_message(
    client: FlaskClient, seed: dict[str, Any], which: str, message: str
) -> None:
    key = seed["keys"]["revoked"] if which == "revoked" else "sk_" + "x" * 43
    answer = sign_in(client, key)
    assert answer.status_code == 401
    assert message in answer.text
    assert client.get("/inspect/projects").status_code == 303  # still signed out


def test_a_key_revoked_after_sign_in_is_signed_out_on_its_next_request(
    edit: FlaskClient, seed: dict[str, Any], uow: UnitOfWork
) -> None:
    assert edit.get("/inspect/projects").status_code == 200
    key_id = re.search(r"key <code>(key_\w+)</code>", edit.get("/inspect/projects").text)
    assert key_id
    revoke_key(uow, key_id.group(1))
    answer = edit.get("/inspect/projects", follow_redirects=True)
    assert answer.request.path == "/inspect/sign-in"
    assert "signed out: this API key has been revoked" in answer.text
    assert edit.get("/inspect/projects").status_code == 303


def test_sign_out_ends_the_session(edit: FlaskClient) -> None:
    token = csrf(edit.get("/inspect/projects").text)
    assert edit.post("/inspect/sign-out", data={"csrf_token": token}).status_code == 303
    assert edit.get("/inspect/projects").status_code == 303


def test_the_inspector_is_off_in_production_unless_asked(database_url: str) -> None:
    for enabled, status in ((False, 404), (True, 200)):
        app = create_app(Config(env="production", database_url=database_url,
                                inspector=enabled, test_helpers=False))
        assert app.test_client().get("/inspect/sign-in").status_code == status
        engine_of(app).dispose()
    assert Config.from_env({"SENDAI_ENV": "production", "DATABASE_URL": database_url,
                            "SENDAI_INSPECTOR": "1"}).inspector
    assert not Config.from_env({"SENDAI_ENV": "production",
                                "DATABASE_URL": database_url}).inspector


def test_api_requests_get_no_session_cookie(client: FlaskClient, seed: dict[str, Any]) -> None:
    answer = client.get(task_path(seed, seed["tasks"]["REVIEWING"][0]),
                        headers=auth(seed["keys"]["read"]))
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers


# --- seeing -------------------------------------------------------------------------------------

def test_the_tasks_list_shows_the_seeds_tasks_with_their_statuses(
    edit: FlaskClient, seed: dict[str, Any]
) -> None:
    html = edit.get(f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks").text
    shown = dict(re.findall(r'data-task-id="(task_\w+)" data-status="(\w+)"', html))
    expected = {t: status for status, ids in seed["tasks"].items() for t in ids}
    assert shown == expected


def test_the_tasks_list_filters_by_status_and_pages(
    edit: FlaskClient, seed: dict[str, Any], app: Flask
) -> None:
    base = f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks"
    html = edit.get(base, query_string={"status": "REVIEWING"}).text
    assert set(re.findall(r'data-status="(\w+)"', html)) == {"REVIEWING"}
    from sendai_server.web.inspect import views

    views.PAGE_SIZE, size = 3, views.PAGE_SIZE
    try:
        first = edit.get(base).text
        token = re.search(r'rel="next" href="[^"]*token=([^"&]+)', first)
        assert token
        second = edit.get(base + "?token=" + token.group(1).replace("&amp;", "&")).text
    finally:
        views.PAGE_SIZE = size
    ids_first = re.findall(r'data-task-id="(task_\w+)"', first)
    ids_second = re.findall(r'data-task-id="(task_\w+)"', second)
    assert len(ids_first) == 3 and ids_second and not set(ids_first) & set(ids_second)


def test_a_task_page_shows_annotations_events_blank_sheets_and_the_lifecycle(
    edit: FlaskClient, seed: dict[str, Any]
) -> None:
    html = edit.get(task_page(seed, seed["tasks"]["REVIEWING"][0])).text
    assert '<td class="entity">total_amount</td>' in html
    assert 'class="blank" viewBox="0 0 2480 3508"' in html  # no stored file: a blank sheet
    assert "<polygon class=\"checkbox checked\"" in html and 'class="signature"' in html
    assert '<li data-action="create">' in html
    assert '<g class="state current" data-status="REVIEWING">' in html
    assert re.findall(r'id="action-(\w+)"', html) == ["discard", "complete", "approve",
                                                       "report"]


def test_another_teams_task_is_the_same_404_page_as_a_missing_one(
    edit: FlaskClient, seed: dict[str, Any]
) -> None:
    other = seed["other"]
    theirs = edit.get(f"/inspect/{other['team_id']}/project/{other['project_id']}"
                      f"/task/{other['task_id']}")
    mine_missing = edit.get(task_page(seed, "task_doesnotexist000"))
    assert theirs.status_code == mine_missing.status_code == 404
    assert theirs.text == mine_missing.text


@pytest.mark.parametrize("path", ["/inspect/nothing-here", "/inspect/projects/extra",
                                  "/inspect/sign-out"])
def test_an_unknown_inspector_path_is_the_inspectors_404_page_not_json(
    edit: FlaskClient, seed: dict[str, Any], path: str
) -> None:
    answer = edit.get(path)
    missing_task = edit.get(task_page(seed, "task_doesnotexist000"))
    assert answer.status_code == missing_task.status_code == 404
    assert answer.mimetype == "text/html"

    def message(html: str) -> list[str]:
        return re.findall(r'<p class="flash error" role="alert" id="error-message">([^<]+)</p>',
                          html)

    assert message(answer.text) == message(missing_task.text) == [NotFound.default_message]


def test_a_pdf_task_draws_its_page_from_the_stored_file(
    client: FlaskClient, seed: dict[str, Any], app: Flask, uow: UnitOfWork
) -> None:
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    helpers = auth(seed["keys"]["helpers"])
    with INVOICE.open("rb") as pdf:
        answer = client.post(base + "/upload", data={"file": (pdf, "invoice.pdf")},
                             headers=helpers)
    [task_id] = answer.json["taskIds"]
    run_extraction(app, uow)
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    html = client.get(task_page(seed, task_id)).text
    assert 'class="page-image"' in html and '<td class="entity">total_amount</td>' in html
    image = client.get(task_page(seed, task_id, "page/0.png"))
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG")
    assert client.get(task_page(seed, task_id, "page/1.png")).status_code == 404
    assert client.get(task_page(seed, seed["tasks"]["REVIEWING"][0], "page/0.png")).status_code \
        == 404


def test_the_lifecycle_svg_draws_every_status_changing_row_of_the_table() -> None:
    svg = str(lifecycle_svg(TaskStatus.DISCARDED))
    for row in TRANSITIONS:
        if row["dest"] is not None:
            assert row["trigger"] in svg
    assert svg.count('class="state current"') == 1
    assert 'data-status="DISCARDED"' in svg and "http://" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


# --- acting -------------------------------------------------------------------------------------

def test_discard_answers_the_task_page_with_the_new_state_and_event(
    edit: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    token = csrf(edit.get(task_page(seed, task_id)).text)
    answer = edit.post(task_page(seed, task_id, "discard"), data={"csrf_token": token},
                       follow_redirects=True)
    assert answer.status_code == 200
    assert 'id="task-status">DISCARDED' in answer.text
    assert '<li data-action="discard">' in answer.text
    assert 'id="action-discard"' not in answer.text
    assert _status(engine, task_id) == "DISCARDED"


def test_a_refused_action_shows_the_apis_own_message_and_changes_nothing(
    edit: FlaskClient, client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["COMPLETED"][0]
    token = csrf(edit.get(task_page(seed, task_id)).text)
    before = _events(engine, task_id)
    answer = edit.post(task_page(seed, task_id, "discard"), data={"csrf_token": token})
    api = client.post(task_path(seed, task_id, "discard"), headers=auth(seed["keys"]["edit"]))
    assert answer.status_code == api.status_code == 400
    assert f'id="action-error">{api.json["error"]["message"]}<' in answer.text
    assert _events(engine, task_id) == before


def test_a_report_goes_through_the_form_into_the_event(
    edit: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    token = csrf(edit.get(task_page(seed, task_id)).text)
    answer = edit.post(task_page(seed, task_id, "report"), follow_redirects=True, data={
        "csrf_token": token, "label": "total_amount", "value": "wrong currency",
        "message": "EUR, not USD"})
    assert "total_amount: wrong currency" in answer.text and "EUR, not USD" in answer.text
    empty = edit.post(task_page(seed, task_id, "report"), data={"csrf_token": token, "label": "",
                                                             "value": "x"})
    assert empty.status_code == 400 and "issues.0.label" in empty.text
    assert _events(engine, task_id) == 2  # create, report


def test_a_read_only_key_sees_no_buttons_and_its_forged_post_is_403_and_changes_nothing(
    client: FlaskClient, seed: dict[str, Any], engine: Engine
) -> None:
    assert sign_in(client, seed["keys"]["read"]).status_code == 303
    task_id = seed["tasks"]["REVIEWING"][0]
    html = client.get(task_page(seed, task_id)).text
    assert 'id="action-' not in html and "can look, not act" in html
    answer = client.post(task_page(seed, task_id, "discard"), data={"csrf_token": csrf(html)})
    assert answer.status_code == 403
    assert "lacks the &#39;task.edit&#39; scope" in answer.text
    assert _status(engine, task_id) == "REVIEWING" and _events(engine, task_id) == 1


@pytest.mark.parametrize("token", [None, "forged"])
def test_a_post_without_the_csrf_token_changes_nothing(
    edit: FlaskClient, seed: dict[str, Any], engine: Engine, token: str | None
) -> None:
    task_id = seed["tasks"]["REVIEWING"][0]
    data = {} if token is None else {"csrf_token": token}
    answer = edit.post(task_page(seed, task_id, "discard"), data=data)
    assert answer.status_code == 403 and "security token" in answer.text
    assert _status(engine, task_id) == "REVIEWING" and _events(engine, task_id) == 1


def test_every_inspector_page_loads_only_from_this_server(
    edit: FlaskClient, seed: dict[str, Any]
) -> None:
    pages = ["/inspect/projects", task_page(seed, seed["tasks"]["REVIEWING"][0]),
             f"/inspect/{seed['team_id']}/project/{seed['project_id']}/tasks"]
    for path in pages:
        answer = edit.get(path)
        assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert sources and all(s.startswith(("/", "#")) for s in sources), sources


def test_uploads_by_folder_and_status_need_upload_read(
    client: FlaskClient, seed: dict[str, Any]
) -> None:
    base = f"/inspect/{seed['team_id']}/project/{seed['project_id']}/uploads"
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    assert client.get(base).status_code == 403  # no upload.read
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    everything = client.get(base).text
    assert everything.count("data-upload-id") == sum(len(v) for v in seed["tasks"].values())
    inbox = client.get(base, query_string={"folder": seed["folders"]["inbox"],
                                           "status": "IN_REVIEW"}).text
    assert 0 < inbox.count("data-upload-id") < everything.count("data-upload-id")
    assert client.get(base, query_string={"folder": "folder_notmine00000"}).status_code == 404
