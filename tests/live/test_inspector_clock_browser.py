"""The team's clock in a real headless Chromium against live gunicorn (docs/clock.md): a frozen
team's time under the header, and the Advance form played out, an upload's task in review
when the page comes back. SENDAI_UPDATE_SCREENSHOT=1 writes docs/inspector-clock.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from sendai_server.services import team_clock
from sendai_server.services.keys import create_key
from sendai_server.services.projects import ProjectSettings, create_project
from sendai_server.store.uow import UnitOfWork
from tests.support.browser import WAIT, browser, screenshot, wait  # noqa: F401 - the fixture
from tests.support.helpers import LiveServer, auth
from tests.support.inspector import INVOICE

pytestmark = pytest.mark.slow  # live gunicorn and a browser

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def server(database_url: str, files: Path, seed: dict[str, Any]) -> Iterator[LiveServer]:
    live = LiveServer(database_url, workers=2, env={"SENDAI_STORAGE_URL": str(files)})
    yield live
    live.stop()


def test_the_advance_form_plays_out_an_upload_in_chromium(
    browser: Any, server: LiveServer, seed: dict[str, Any], uow: UnitOfWork,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    team = seed["team_id"]
    project_id, _ = create_project(uow, team, "Invoices", ProjectSettings(pipeline="auto",
                                                                        delay=30))
    key = create_key(uow, team, ["upload.create", "task.read"], [project_id], "client").key
    team_clock.freeze(uow, team, MONDAY)
    with INVOICE.open("rb") as pdf:
        uploaded = requests.post(f"{server.url}/v2/{team}/project/{project_id}/upload",
                                 files={"file": ("invoice.pdf", pdf)}, headers=auth(key),
                                 timeout=WAIT)
    [task_id] = uploaded.json()["taskIds"]

    browser.get(server.url + "/inspect/sign-in")
    browser.find_element(By.ID, "key").send_keys(seed["keys"]["helpers"])
    browser.find_element(By.CSS_SELECTOR, "form.card button").click()
    wait(browser, ec.url_contains("/inspect/projects"))
    bar = browser.find_element(By.ID, "team-clock")
    assert "Team clock frozen at 2026-01-05 09:00:00 UTC" in bar.text
    assert "1 job(s) waiting, next due 2026-01-05 09:00:30 UTC" in bar.text

    amount = bar.find_element(By.NAME, "amount")
    amount.clear()
    amount.send_keys("30")
    Select(bar.find_element(By.NAME, "unit")).select_by_value("seconds")
    bar.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    flash = wait(browser, ec.presence_of_element_located((By.CSS_SELECTOR, ".flash.info")))
    assert f"ran 1 job(s): extract {task_id} → REVIEWING" in flash.text
    bar = browser.find_element(By.ID, "team-clock")
    assert "Team clock frozen at 2026-01-05 09:00:30 UTC" in bar.text
    assert "0 job(s) waiting" in bar.text
    assert browser.current_url.endswith("/inspect/projects")
    task = requests.get(f"{server.url}/v2/{team}/project/{project_id}/task/{task_id}",
                        headers=auth(key), timeout=WAIT).json()["payload"]
    assert task["status"] == "REVIEWING"
    screenshot(browser, tmp_path, "inspector-clock.png", height=700)
