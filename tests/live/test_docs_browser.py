"""/docs in a real headless Chromium (Debian's chromium + chromium-driver) with every host but
127.0.0.1 unreachable: Swagger UI renders every operation of /openapi.json, and the page loads
nothing from anywhere but this server.

Skips when Chromium is not installed, unless SENDAI_REQUIRE_BROWSER=1 (set by .ci/run), where
a missing browser fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.api_spec import operations
from tests.support.browser import browser, requested_urls  # noqa: F401 - the fixture
from tests.support.helpers import LiveServer

pytestmark = pytest.mark.slow  # live gunicorn, a browser or a fuzzer


@pytest.fixture
def docs_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    path = tmp_path / "docs.db"
    shutil.copyfile(sqlite_template, path)
    server = LiveServer(f"sqlite:///{path}", workers=1)
    yield server
    server.stop()


def test_docs_page_renders_every_operation_with_the_network_cut_off(
    browser: Any, docs_server: LiveServer, tmp_path: Path  # noqa: F811 - the fixture
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
    urls = requested_urls(browser)
    assert any(url.endswith("/openapi.json") for url in urls)
    # Chromium's own chrome:// pages aside, everything came from this server.
    foreign = [url for url in urls if url.startswith(("http:", "https:", "ws:", "wss:"))
               and not url.startswith(docs_server.url + "/")]
    assert foreign == []
