"""The inspector in a real headless Chromium against live gunicorn (the `serve` settings:
gthread workers), with every host but 127.0.0.1 unreachable: sign in with the seed's edit key,
the tasks list, an uploaded invoice's task drawn from its PDF, discard; a read-only key; and,
while the browser holds its connections open, a client's API calls all answer promptly.
"""

from __future__ import annotations

import io
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient

from sendai_server import create_app
from sendai_server.config import Config
from sendai_server.web.context import engine_of
from tests.support.browser import browser, requested_urls, sign_in, wait  # noqa: F401 - the fixture
from tests.support.helpers import REPO_ROOT, LiveServer, auth
from tests.support.inspector import INVOICE, run_extraction

pytestmark = pytest.mark.slow  # live gunicorn and a browser

# Seconds: what "promptly" means for one API call on loopback, on a machine CI may load. A
# starved call waits for a held worker: at least the 5 s a silent connection may hold a thread
# (gunicorn_conf), up to the 30 s a sync worker waited on a browser's idle connection.
API_DEADLINE = 2.5


@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def config(database_url: str, files: Path) -> Config:
    return Config(env="test", database_url=database_url, storage_url=str(files),
                  pipeline_delay=0.0)


@pytest.fixture
def invoice_task(client: FlaskClient, seed: dict[str, Any], config: Config) -> str:
    """The sample invoice uploaded into the seed's project, extracted, sent to review: the
    newest REVIEWING task."""
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    helpers = auth(seed["keys"]["helpers"])
    with INVOICE.open("rb") as pdf:
        answer = client.post(base + "/upload", data={"file": (pdf, "invoice.pdf")},
                             headers=helpers)
    [task_id] = answer.json["taskIds"]
    app = create_app(config)
    from sendai_server.store.uow import UnitOfWork

    with UnitOfWork(engine_of(app)) as uow:
        run_extraction(app, uow)
    engine_of(app).dispose()
    moved = client.post(f"{base}/test_helpers/task/{task_id}/advance",
                        json={"event": "to_review"}, headers=helpers)
    assert moved.status_code == 200, moved.text
    return str(task_id)


@pytest.fixture
def server(database_url: str, files: Path, invoice_task: str) -> Iterator[LiveServer]:
    # Two workers, as `serve` runs by default: the setup where two sync workers were starved.
    live = LiveServer(database_url, workers=2, env={"SENDAI_STORAGE_URL": str(files)})
    yield live
    live.stop()


def test_review_and_discard_in_chromium_while_the_api_answers_promptly(
    browser: Any, server: LiveServer, seed: dict[str, Any], invoice_task: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    sign_in(browser, server, seed["keys"]["edit"])
    wait(browser, ec.url_contains("/inspect/projects"))
    browser.find_element(By.LINK_TEXT, "Tasks").click()
    wait(browser, ec.presence_of_element_located((By.ID, "tasks")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#tasks tbody tr[data-task-id]")
    shown = {r.get_attribute("data-task-id"): r.get_attribute("data-status") for r in rows}
    for status, ids in seed["tasks"].items():
        for task_id in ids:
            assert shown[task_id] == status
    first_reviewing = next(r for r in rows if r.get_attribute("data-status") == "REVIEWING")
    assert first_reviewing.get_attribute("data-task-id") == invoice_task
    first_reviewing.find_element(By.TAG_NAME, "a").click()

    wait(browser, ec.presence_of_element_located((By.ID, "task-status")))
    wait(browser, lambda d: d.find_element(By.ID, "page-0").get_attribute("data-loaded")
          == "1")
    entities = [c.text for c in browser.find_elements(By.CSS_SELECTOR, "#annotations .entity")]
    assert "total_amount" in entities
    assert browser.find_elements(By.CSS_SELECTOR, "#page-0 svg.page g.mark")
    _screenshot(browser, tmp_path)

    # The browser holds its connections (and a few more idle ones stand in for its
    # speculative ones): the API's calls still all answer promptly.
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
    try:
        slowest = _slowest_api_call(server, seed, calls=20)
    finally:
        for sock in idle:
            sock.close()
    assert slowest < API_DEADLINE, f"an API call took {slowest:.2f} s with the browser open"

    events_before = len(browser.find_elements(By.CSS_SELECTOR, "#events li"))
    browser.find_element(By.ID, "action-discard").click()
    wait(browser, ec.element_to_be_clickable((By.ID, "discard-confirm"))).click()
    wait(browser, ec.text_to_be_present_in_element((By.ID, "task-status"), "DISCARDED"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#events li")) == events_before + 1
    assert browser.find_elements(By.CSS_SELECTOR, '#events li[data-action="discard"]')
    assert not browser.find_elements(By.ID, "action-discard")

    urls = requested_urls(browser)
    foreign = [url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:"))
               and not url.startswith(server.url + "/")]
    assert foreign == []


def _slowest_api_call(server: LiveServer, seed: dict[str, Any], calls: int) -> float:
    path = (f"{server.url}/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
            f"{seed['tasks']['COMPLETED'][0]}")
    slowest = 0.0
    with requests.Session() as http:
        for _ in range(calls):
            started = time.monotonic()
            answer = http.get(path, headers=auth(seed["keys"]["read"]), timeout=5)
            slowest = max(slowest, time.monotonic() - started)
            assert answer.status_code == 200
    return slowest


def _screenshot(driver: Any, tmp_path: Path) -> None:
    from PIL import Image

    png = driver.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, 1500)))
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    # docs/inspector.md's screenshot of this page is test_inspector_review_browser's.
    image.quantize(colors=128).save(tmp_path / "inspector-task.png", optimize=True)


def test_a_read_only_key_sees_no_buttons_and_its_forged_post_changes_nothing(
    browser: Any, server: LiveServer, seed: dict[str, Any],  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    task_id = seed["tasks"]["REVIEWING"][0]
    page = f"{server.url}/inspect/{seed['team_id']}/project/{seed['project_id']}/task/{task_id}"
    sign_in(browser, server, seed["keys"]["read"])
    wait(browser, ec.url_contains("/inspect/projects"))
    browser.get(page)
    wait(browser, ec.presence_of_element_located((By.ID, "task-status")))
    assert not browser.find_elements(By.CSS_SELECTOR, "[id^=action-]")
    # A forged form, posted by the page itself with this session's token.
    status = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const token = document.querySelector('input[name=csrf_token]').value;
        fetch(arguments[0] + '/discard', {method: 'POST', body: new URLSearchParams(
            {csrf_token: token})}).then(r => done(r.status));
    """, page)
    assert status == 403
    api = requests.get(f"{server.url}/v2/{seed['team_id']}/project/{seed['project_id']}"
                       f"/task/{task_id}", headers=auth(seed["keys"]["read"]), timeout=5)
    assert api.json()["payload"]["status"] == "REVIEWING"


def test_sign_in_with_a_revoked_key_fails_and_a_key_revoked_from_the_cli_is_signed_out(
    browser: Any, server: LiveServer, seed: dict[str, Any], database_url: str,  # noqa: F811
) -> None:
    import subprocess
    import sys

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    sign_in(browser, server, seed["keys"]["revoked"])
    error = wait(browser, ec.presence_of_element_located((By.ID, "sign-in-error")))
    assert "revoked" in error.text

    sign_in(browser, server, seed["keys"]["edit"])
    wait(browser, ec.url_contains("/inspect/projects"))
    key_id = re.search(r"key_\w+", browser.find_element(By.CSS_SELECTOR, ".who").text)
    assert key_id
    subprocess.run(
        [sys.executable, "-m", "sendai_server.cli", "keys", "revoke", key_id.group(0)],
        cwd=REPO_ROOT, env={**os.environ, "DATABASE_URL": database_url}, check=True,
        timeout=60, capture_output=True)
    browser.refresh()
    wait(browser, ec.url_contains("/inspect/sign-in"))
    assert "revoked" in browser.find_element(By.CSS_SELECTOR, ".flash.error").text
