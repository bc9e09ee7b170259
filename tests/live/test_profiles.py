"""Profiles over a live gunicorn (4 workers) with a plain `requests` client (docs/profiles.md):
the switches that change an answer's status and shape, each choice as a client sees it."""

from __future__ import annotations

import pytest

from sendai_server.services.keys import create_key
from sendai_server.services.projects import create_project
from sendai_server.store.uow import UnitOfWork
from tests.support.helpers import auth
from tests.support.live import Live, live  # noqa: F401 - the module's server

pytestmark = pytest.mark.slow


def _profile(live: Live, **settings: str) -> None:  # noqa: F811
    response = live.http.put(f"{live.server.url}/v2/{live.seed['team_id']}/test_helpers/profile",
                             json=settings, headers=live.headers(), timeout=30)
    assert response.status_code == 200, response.text
    assert {k: response.json()["payload"][k] for k in settings} == settings


@pytest.mark.parametrize("choice,status", [("error", 400), ("ignored", 200)])
def test_discard_refused_over_http(live: Live, choice: str, status: int) -> None:  # noqa: F811
    _profile(live, discard_refused=choice)
    task_id = live.create_task("COMPLETED")
    response = live.action(task_id, "discard", key="edit", timeout=30)
    print(f"discard_refused={choice}: {response.status_code} {response.text[:160]}")
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    if status == 200:
        assert body["payload"]["status"] == "COMPLETED" and body["payload"]["id"] == task_id
    else:
        assert body["error"]["code"] == "invalid_task_state"
    assert live.get(f"/task/{task_id}", timeout=30).json()["payload"]["status"] == "COMPLETED"
    _profile(live)


@pytest.mark.parametrize("choice,status,code", [("not_found", 404, "not_found"),
                                                ("forbidden", 403, "forbidden")])
def test_no_access_over_http(live: Live, choice: str, status: int, code: str) -> None:  # noqa: F811
    _profile(live, no_access=choice)
    with UnitOfWork(live.engine) as uow:
        hidden, _ = create_project(uow, live.seed["team_id"], "Hidden")
        outsider = create_key(uow, live.seed["team_id"], ["task.read"], [hidden]).key
    response = live.http.get(f"{live.base}/task", headers=auth(outsider), timeout=30)
    print(f"no_access={choice}: {response.status_code} {response.text[:160]}")
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    other = live.seed["other"]
    foreign = live.http.get(
        f"{live.server.url}/v2/{other['team_id']}/project/{other['project_id']}/task",
        headers=auth(outsider), timeout=30)
    assert foreign.status_code == 404
    _profile(live)
