"""A real headless Chromium (Debian's chromium + chromium-driver) for the browser tests, with every
host but 127.0.0.1 unreachable: `chromium` for a fixture to yield from, the `browser` fixture, and
the helpers its tests share (the requests a page made, signing in to the inspector, waiting,
screenshots).

Skips when Chromium is not installed, unless SENDAI_REQUIRE_BROWSER=1 (set by .ci/run), where
a missing browser fails."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.helpers import REPO_ROOT, LiveServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REQUIRE_BROWSER = os.environ.get("SENDAI_REQUIRE_BROWSER") == "1"
WAIT = 20  # seconds, for anything the browser waits on


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


def requested_urls(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def sign_in(driver: Any, server: LiveServer, key: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(server.url + "/inspect/sign-in")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form.card button").click()


def wait(driver: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(condition)


def screenshot(driver: Any, tmp_path: Path, name: str, height: int = 1500) -> None:
    from PIL import Image

    image = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
    image = image.crop((0, 0, image.width, min(image.height, height)))
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4))
    target = (REPO_ROOT / "docs" / name if os.environ.get("SENDAI_UPDATE_SCREENSHOT") == "1"
              else tmp_path / name)
    target.parent.mkdir(exist_ok=True)
    image.quantize(colors=160).save(target, optimize=True)
