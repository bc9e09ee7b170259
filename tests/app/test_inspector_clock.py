"""The team's clock in the inspector (docs/clock.md): a frozen team's time on every page, and
an Advance form (CSRF-protected, `test_helpers` only) that plays the time out like the test
helpers' endpoint; the inspector's own actions write on the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.services import team_clock
from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import REPO_ROOT, auth, count_rows
from tests.support.inspector import csrf, sign_in, task_page

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INVOICE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
ADVANCE = "/inspect/{team}/clock/advance"


def pages(seed: dict[str, Any]) -> list[str]:
    project = f"/inspect/{seed['team_id']}/project/{seed['project_id']}"
    return ["/inspect/projects", f"{project}/tasks", f"{project}/uploads",
            f"{project}/notifications", f"{project}/faults",
            task_page(seed, seed["tasks"]["REVIEWING"][0])]


def now_of(uow: UnitOfWork, team_id: str) -> datetime:
    moment: datetime = team_clock.read_clock(uow, team_id)["now"]
    return moment


@pytest.fixture
def helpers(client: FlaskClient, seed: dict[str, Any]) -> FlaskClient:
    assert sign_in(client, seed["keys"]["helpers"]).status_code == 303
    return client


def advance(client: FlaskClient, seed: dict[str, Any], page: str, **form: str) -> Any:
    token = csrf(client.get(page).text)
    return client.post(ADVANCE.format(team=seed["team_id"]),
                       data={"csrf_token": token, "next": page, **form})


def test_a_frozen_teams_time_is_on_every_page(helpers: FlaskClient, seed: dict[str, Any],
                                             uow: UnitOfWork) -> None:
    for page in pages(seed):
        assert 'id="team-clock"' not in helpers.get(page).text, page
    team_clock.freeze(uow, seed["team_id"], MONDAY)

    for page in pages(seed):
        html = helpers.get(page).text
        assert 'id="team-clock"' in html, page
        assert "frozen at <strong><time datetime=\"2026-01-05T09:00:00+00:00\">" in html, page
        assert 'class="clock-advance"' in html, page


def test_advance_plays_out_an_upload_and_answers_the_page_it_was_on(
        helpers: FlaskClient, client: FlaskClient, seed: dict[str, Any],
        uow: UnitOfWork) -> None:
    team = seed["team_id"]
    project_id, _ = create_project(uow, team, "clocked", ProjectSettings(pipeline="auto",
                                                                       delay=30))
    key = create_key(uow, team, ["upload.create"], [project_id], "uploads").key
    team_clock.freeze(uow, team, MONDAY)
    uploaded = client.post(f"/v2/{team}/project/{project_id}/upload", headers=auth(key),
                           data={"file": (INVOICE.open("rb"), "invoice.pdf")})
    [task_id] = uploaded.get_json()["taskIds"]
    page = f"/inspect/{team}/project/{seed['project_id']}/tasks?status=REVIEWING"

    answer = advance(helpers, seed, page, amount="1", unit="minutes")

    assert (answer.status_code, answer.headers["Location"]) == (303, page)
    shown = helpers.get(page).text
    assert "The clock moved 0:01:00 to 2026-01-05 09:01:00 UTC and ran 1 job(s)" in shown
    assert f"{task_id} → REVIEWING" in shown
    assert now_of(uow, team) == datetime(2026, 1, 5, 9, 1, tzinfo=UTC)
    assert "0 job(s) waiting" in shown


@pytest.mark.parametrize("form, message", [
    ({"amount": "-1", "unit": "seconds"}, "0 or more"),
    ({"amount": "soon", "unit": "hours"}, "0 or more"),
    ({"amount": "nan", "unit": "hours"}, "0 or more"),
    ({"amount": "1", "unit": "weeks"}, "0 or more"),
    ({"amount": "400", "unit": "days"}, "366 days"),
])
def test_a_bad_advance_says_why_and_leaves_the_clock(helpers: FlaskClient, seed: dict[str, Any],
                                                    uow: UnitOfWork, form: dict[str, str],
                                                    message: str) -> None:
    team_clock.freeze(uow, seed["team_id"], MONDAY)
    answer = advance(helpers, seed, "/inspect/projects", **form)
    assert answer.status_code == 303
    shown = helpers.get("/inspect/projects").text
    assert 'class="flash error"' in shown and message in shown
    assert now_of(uow, seed["team_id"]) == MONDAY


def test_an_advance_without_the_csrf_token_changes_nothing(helpers: FlaskClient,
                                                          seed: dict[str, Any],
                                                          uow: UnitOfWork) -> None:
    team_clock.freeze(uow, seed["team_id"], MONDAY)
    answer = helpers.post(ADVANCE.format(team=seed["team_id"]),
                          data={"amount": "1", "unit": "days"})
    assert answer.status_code == 403
    assert now_of(uow, seed["team_id"]) == MONDAY


def test_a_key_without_test_helpers_sees_the_time_but_cannot_advance(
        client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork) -> None:
    team_clock.freeze(uow, seed["team_id"], MONDAY)
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    html = client.get("/inspect/projects").text
    assert 'id="team-clock"' in html and 'class="clock-advance"' not in html

    forged = advance(client, seed, "/inspect/projects", amount="1", unit="days")

    assert forged.status_code == 403
    assert now_of(uow, seed["team_id"]) == MONDAY


def test_another_teams_clock_is_not_found(helpers: FlaskClient, seed: dict[str, Any],
                                          uow: UnitOfWork) -> None:
    other = seed["other"]["team_id"]
    team_clock.freeze(uow, other, MONDAY)
    answer = advance(helpers, {"team_id": other}, "/inspect/projects", amount="1",
                     unit="days")
    assert answer.status_code == 404
    assert now_of(uow, other) == MONDAY


def test_an_open_redirect_goes_to_the_projects_instead(helpers: FlaskClient,
                                                      seed: dict[str, Any],
                                                      uow: UnitOfWork) -> None:
    team_clock.freeze(uow, seed["team_id"], MONDAY)
    answer = advance(helpers, seed, "/inspect/projects", amount="1", unit="seconds",
                     next="//evil.example/inspect/")
    assert answer.headers["Location"] == "/inspect/projects"


def test_an_inspector_action_of_a_frozen_team_is_written_on_its_clock(
        client: FlaskClient, seed: dict[str, Any], uow: UnitOfWork, engine: Engine) -> None:
    team_clock.freeze(uow, seed["team_id"], MONDAY)
    assert sign_in(client, seed["keys"]["edit"]).status_code == 303
    task_id = seed["tasks"]["REVIEWING"][0]
    token = csrf(client.get(task_page(seed, task_id)).text)

    client.post(task_page(seed, task_id, "discard"), data={"csrf_token": token})

    events = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task_id}"
                        "/events", headers=auth(seed["keys"]["edit"])).get_json()["payload"]
    assert (events[-1]["action"], events[-1]["created_at"][:19]) == (
        "discard", "2026-01-05T09:00:00")
    assert count_rows(engine, "SELECT count(*) FROM team_clock") == 1
