"""The review screen in a real headless Chromium against live gunicorn (issue 21 item 7): labels
whose drawn rectangles meet no text box, the table and the page linked both ways, pages and
zoom, Discard's confirmation (dismissed: nothing changes; accepted: DISCARDED), Alt+A, and
the notifications view sending a notification again.

SENDAI_UPDATE_SCREENSHOT=1 writes docs/inspector-task.png and docs/inspector-notifications.png
(docs/inspector.md shows them); otherwise they go to the test's temporary folder.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.testing.receiver import Receiver
from tests.support import documents
from tests.support.browser import browser, screenshot, sign_in, wait  # noqa: F401 - the fixture
from tests.support.helpers import LiveServer, auth
from tests.support.inspector import run_extraction, statement_pdf
from tests.support.notifications import connect, log
from tests.support.pipeline import Project, drain

pytestmark = pytest.mark.slow  # live gunicorn and a browser

# Rectangles of what the page draws, in CSS pixels, asked of the browser: each visible page's
# text lines, and each label's box and drawn text.
_GEOMETRY = """
const box = (e) => { const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
const sheet = document.querySelector('figure.sheet:not([hidden])');
return {page: Number(sheet.dataset.page),
        sheet: box(sheet.querySelector('svg')),
        lines: [...sheet.querySelectorAll('.text-lines rect')].map(box),
        labels: [...sheet.querySelectorAll('g.mark')].map((g) => ({
          key: g.dataset.mark, box: box(g.querySelector('.label-box')),
          text: box(g.querySelector('text.label'))}))};
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def config(database_url: str, files: Path) -> Config:
    return Config(env="test", database_url=database_url, storage_url=str(files),
                  pipeline_delay=0.0, test_helpers=True)


@pytest.fixture
def statement(client: FlaskClient, seed: dict[str, Any], app: Flask, uow: UnitOfWork) -> str:
    """The three-page statement in the seed's project, extracted and in review."""
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    helpers = auth(seed["keys"]["helpers"])
    answer = client.post(base + "/upload", headers=helpers,
                         data={"file": (io.BytesIO(statement_pdf()), "statement.pdf")})
    [task_id] = answer.json["taskIds"]
    run_extraction(app, uow)
    moved = client.post(f"{base}/test_helpers/task/{task_id}/advance",
                        json={"event": "to_review"}, headers=helpers)
    assert moved.status_code == 200, moved.text
    return str(task_id)


@pytest.fixture
def server(database_url: str, files: Path, seed: dict[str, Any]) -> Iterator[LiveServer]:
    live = LiveServer(database_url, workers=2, env={"SENDAI_STORAGE_URL": str(files)})
    yield live
    live.stop()


def _open_task(driver: Any, server: LiveServer, seed: dict[str, Any], task_id: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    sign_in(driver, server, seed["keys"]["edit"])
    wait(driver, ec.url_contains("/inspect/projects"))
    driver.get(f"{server.url}/inspect/{seed['team_id']}/project/{seed['project_id']}"
               f"/task/{task_id}")
    wait(driver, ec.presence_of_element_located((By.ID, "task-status")))
    wait(driver, lambda d: d.find_element(By.ID, "page-0").get_attribute("data-loaded") == "1")


def _api_task(server: LiveServer, seed: dict[str, Any], task_id: str) -> dict[str, Any]:
    answer = requests.get(f"{server.url}/v2/{seed['team_id']}/project/{seed['project_id']}"
                          f"/task/{task_id}", headers=auth(seed["keys"]["edit"]), timeout=10)
    return answer.json()["payload"]  # type: ignore[no-any-return]


def _meets(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_meet_no_text_and_rows_and_boxes_light_each_other_up(
    browser: Any, server: LiveServer, seed: dict[str, Any], statement: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open_task(browser, server, seed, statement)
    pages = len(browser.find_elements(By.CSS_SELECTOR, "figure.sheet"))
    assert pages == 3
    seen = 0
    for number in range(pages):
        if number:
            browser.find_element(By.ID, "page-next").click()
        drawn = browser.execute_script(_GEOMETRY)
        assert drawn["page"] == number
        if number < 2:
            assert drawn["lines"], "no text boxes drawn"
        for label in drawn["labels"]:
            # The drawn text stays inside its box (textLength holds), and neither meets text.
            text, frame = label["text"], label["box"]
            assert frame[0] - 1 <= text[0] and text[2] <= frame[2] + 1, label
            assert not [line for line in drawn["lines"] if _meets(frame, line)], label
            assert not [line for line in drawn["lines"] if _meets(text, line)], label
            assert frame[0] >= drawn["sheet"][0] - 1 and frame[2] <= drawn["sheet"][2] + 1
        seen += len(drawn["labels"])
    assert seen == len(browser.find_elements(By.CSS_SELECTOR, "#annotations tr[data-mark]"))

    browser.find_element(By.ID, "page-prev").click()
    browser.find_element(By.ID, "page-prev").click()
    row = browser.find_element(By.ID, "row-p0-a3")
    mark = browser.find_element(By.ID, "mark-p0-a3")
    ActionChains(browser).move_to_element(row).perform()
    assert "linked" in mark.get_attribute("class")
    screenshot(browser, tmp_path, "inspector-task.png")
    other = browser.find_element(By.CSS_SELECTOR, "#mark-p0-a0 .label-box")
    ActionChains(browser).move_to_element(other).perform()
    assert "linked" in browser.find_element(By.ID, "row-p0-a0").get_attribute("class")
    assert "linked" not in mark.get_attribute("class")
    # A click on a row of the last page turns to it and keeps the pair marked.
    last = browser.find_elements(By.CSS_SELECTOR, '#annotations tr[data-page="2"]')[0]
    last.click()
    key = last.get_attribute("data-mark")
    assert browser.find_element(By.ID, "page-2").is_displayed()
    assert not browser.find_element(By.ID, "page-0").is_displayed()
    assert "selected" in browser.find_element(By.ID, f"mark-{key}").get_attribute("class")
    assert "Page 3 of 3" in browser.find_element(By.ID, "page-number").text


def test_pages_turn_one_at_a_time_and_zoom_scales_the_page(
    browser: Any, server: LiveServer, seed: dict[str, Any], statement: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By

    _open_task(browser, server, seed, statement)

    def shown() -> list[str]:
        return [s.get_attribute("id") for s in
                browser.find_elements(By.CSS_SELECTOR, "figure.sheet") if s.is_displayed()]

    def width() -> float:
        return float(browser.execute_script(
            "return document.querySelector('figure.sheet:not([hidden]) svg')"
            ".getBoundingClientRect().width"))

    prev, nxt = browser.find_element(By.ID, "page-prev"), browser.find_element(By.ID, "page-next")
    assert shown() == ["page-0"] and not prev.is_enabled() and nxt.is_enabled()
    nxt.click()
    assert shown() == ["page-1"] and prev.is_enabled()
    assert browser.find_element(By.ID, "page-number").text == "Page 2 of 3"
    nxt.click()
    assert shown() == ["page-2"] and not nxt.is_enabled()
    fit = width()
    browser.find_element(By.ID, "zoom-in").click()
    assert browser.find_element(By.ID, "zoom-level").text == "125%"
    assert width() == pytest.approx(fit * 1.25, rel=0.02)
    browser.find_element(By.ID, "zoom-out").click()
    browser.find_element(By.ID, "zoom-out").click()
    assert browser.find_element(By.ID, "zoom-level").text == "75%"
    assert width() == pytest.approx(fit * 0.75, rel=0.02)
    browser.find_element(By.ID, "zoom-fit").click()
    assert width() == pytest.approx(fit, rel=0.01)


def test_discard_asks_first_and_keeping_changes_nothing(
    browser: Any, server: LiveServer, seed: dict[str, Any], statement: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    _open_task(browser, server, seed, statement)
    events = len(browser.find_elements(By.CSS_SELECTOR, "#events li"))
    dialog = browser.find_element(By.ID, "confirm-discard")
    browser.find_element(By.ID, "action-discard").click()
    wait(browser, lambda d: dialog.get_attribute("open") is not None)
    assert "statement.pdf" in dialog.text
    browser.find_element(By.ID, "discard-cancel").click()
    wait(browser, lambda d: dialog.get_attribute("open") is None)
    browser.refresh()
    wait(browser, ec.presence_of_element_located((By.ID, "task-status")))
    assert browser.find_element(By.ID, "task-status").text == "REVIEWING"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#events li")) == events
    assert _api_task(server, seed, statement)["status"] == "REVIEWING"

    browser.find_element(By.ID, "action-discard").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "discard-confirm"))).click()
    wait(browser, ec.text_to_be_present_in_element((By.ID, "task-status"), "DISCARDED"))
    assert _api_task(server, seed, statement)["status"] == "DISCARDED"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#events li")) == events + 1


def test_alt_a_approves(
    browser: Any, server: LiveServer, seed: dict[str, Any], statement: str,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec

    _open_task(browser, server, seed, statement)
    assert browser.find_element(By.ID, "task-approved").text == "no"
    ActionChains(browser).key_down(Keys.ALT).send_keys("a").key_up(Keys.ALT).perform()
    wait(browser, ec.text_to_be_present_in_element((By.ID, "task-approved"), "yes"))
    assert "Task approved." in browser.find_element(By.CSS_SELECTOR, ".flash").text
    assert _api_task(server, seed, statement)["approved"] is True
    assert not browser.find_elements(By.ID, "action-approve")
    ActionChains(browser).key_down(Keys.ALT).send_keys("a").key_up(Keys.ALT).perform()
    note = browser.find_element(By.ID, "shortcut-note")
    assert note.is_displayed() and "not open" in note.text


def test_the_notifications_view_shows_a_payload_and_sends_it_again(
    browser: Any, server: LiveServer, seed: dict[str, Any], client: FlaskClient,  # noqa: F811
    uow: UnitOfWork, engine: Engine, config: Config, tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    receiver = Receiver()
    try:
        project = Project(client, uow, seed)
        connect(project, receiver.url)
        [task_id] = project.upload((documents.invoice_pdf(), "invoice.pdf"))["taskIds"]
        drain(engine, config)
        assert project.post(f"/task/{task_id}/complete").status_code == 200
        drain(engine, config)
        receiver.wait_count(3)
        export = next(e for e in log(project) if e["event"] == "TASK_EXPORT")
        key = create_key(uow, project.team_id, ["upload.read", "task.read", "task.edit"],
                         [project.project_id]).key
        sign_in(browser, server, key)
        wait(browser, ec.url_contains("/inspect/projects"))
        browser.get(f"{server.url}/inspect/{project.team_id}/project/{project.project_id}"
                    "/notifications")
        row = wait(browser, ec.presence_of_element_located(
            (By.ID, f"notification-{export['id']}")))
        row.find_element(By.CSS_SELECTOR, "details.payload summary").click()
        body = row.find_element(By.CSS_SELECTOR, "pre.payload-body")
        assert body.is_displayed() and f'"id": "{export["id"]}"' in body.text
        browser.find_element(By.ID, f"resend-{export['id']}").click()
        wait(browser, ec.text_to_be_present_in_element(
            (By.CSS_SELECTOR, ".flash"), "as attempt 2"))
        drain(engine, config)  # the worker's part; the page reloads itself while pending
        wait(browser, lambda d: d.find_elements(
            By.CSS_SELECTOR, f'#notification-{export["id"]}[data-status="delivered"] '
                             '.attempt[data-n="2"]'))
        again = receiver.wait_count(4)[-1]
        assert again.headers["X-Sendai-Event-Id"] == export["id"]
        assert again.headers["X-Sendai-Attempt"] == "2"
        browser.find_element(By.CSS_SELECTOR,
                             f"#notification-{export['id']} details.payload summary").click()
        screenshot(browser, tmp_path, "inspector-notifications.png", height=1040)
    finally:
        receiver.close()
