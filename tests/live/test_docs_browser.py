"""/docs in a real headless Chromium (Debian's chromium + chromium-driver) with every host but
127.0.0.1 unreachable: Swagger UI renders every operation of /openapi.json, and the page loads
nothing from anywhere but this server.

Skips when Chromium is not installed, unless SENDAI_REQUIRE_BROWSER=1 (set by .ci/run), where
a missing browser fails.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.api_spec import operations
from tests.support.helpers import LiveServer

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRE_BROWSER = os.environ.get("SENDAI_REQUIRE_BROWSER") == "1"


@pytest.fixture
def browser() -> Iterator[Any]:
    yield from chromium()


def chromium(prefs: dict[str, Any] | None = None) -> Iterator[Any]:
    """A headless Chromium (its profile's `prefs` set), for a fixture to yield from."""
    if not (CHROMIUM and CHROMEDRIVER):
        message = "chromium and chromium-driver (Debian packages) are needed for the docs test"
        if REQUIRE_BROWSER:
            pytest.fail(message + " (SENDAI_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sendai-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,2000",
        # The network is cut off: every name but 127.0.0.1 fails to resolve, and any proxy
        # lookup goes nowhere.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    if prefs:
        options.add_experimental_option("prefs", prefs)
    # An explicit driver path: selenium never tries to download one.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def docs_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    path = tmp_path / "docs.db"
    shutil.copyfile(sqlite_template, path)
    server = LiveServer(f"sqlite:///{path}", workers=1)
    yield server
    server.stop()


def _requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_docs_page_renders_every_operation_with_the_network_cut_off(
    browser: Any, docs_server: LiveServer, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    spec = requests.get(docs_server.url + "/openapi.json", timeout=10).json()
    expected = list(operations(spec))
    browser.get(docs_server.url + "/docs")
    WebDriverWait(browser, 30).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".opblock"))
    )
    browser.save_screenshot(str(tmp_path / "docs.png"))
    blocks = browser.find_elements(By.CSS_SELECTOR, ".opblock")
    rendered = {
        (block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
         block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
             "data-path"))
        for block in blocks
    }
    assert rendered == {(op.method, op.path) for op in expected}
    assert "Send AI v2 task API" in browser.find_element(By.CSS_SELECTOR, ".title").text
    assert browser.find_elements(By.CSS_SELECTOR, ".authorize"), "no Authorize button"
    urls = _requested_urls(browser)
    assert any(url.endswith("/openapi.json") for url in urls)
    # Chromium's own chrome:// pages aside, everything came from this server.
    foreign = [url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:"))
               and not url.startswith(docs_server.url + "/")]
    assert foreign == []
