"""The user documentation (docs/, mkdocs.yml; issue 31): it builds strictly, every page is in the
navigation, nothing on it comes from another host, and what it lists from the code is complete:
every API operation in the API reference, every environment variable config.py reads on the
configuration page, and the performance page's figures as bench/results.json has them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.bench_figures import tables
from tests.support.helpers import REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))


def _nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _mkdocs_config() -> dict[str, Any]:
    # mkdocs.yml has no !!python tags; the safe loader reads it.
    config: dict[str, Any] = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text())
    return config


def test_every_page_is_in_the_navigation_once_and_every_entry_is_a_page() -> None:
    listed = _nav_pages(_mkdocs_config()["nav"])
    assert sorted(listed) == PAGES
    assert len(listed) == len(set(listed))


def test_the_site_is_built_for_reading_from_the_file_system_without_the_network() -> None:
    config = _mkdocs_config()
    assert config["theme"]["name"] == "material"
    assert config["theme"]["font"] is False  # Material's default loads Google Fonts
    assert config["use_directory_urls"] is False
    assert "offline" in config["plugins"]
    assert "repo_url" not in config  # the header's repository widget fetches from its host
    for polyfill in config["extra"]["polyfills"]:
        assert not re.match(r"https?://", polyfill)
        assert (DOCS / polyfill).is_file()


class _Assets(HTMLParser):
    """Every URL a page loads by itself: scripts, styles, icons, images, frames, media."""

    LOADED = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
              ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data"),
              ("link", "href")}

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.mermaid = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and (found.get("rel") or "") in {"canonical", "alternate"}:
            return  # names the page, loads nothing
        self.urls += [value for name, value in attrs
                      if value and (tag, name) in self.LOADED]
        self.urls += [url for name, value in attrs if name == "style" and value
                      for url in re.findall(r"url\(['\"]?([^'\")]+)", value)]
        # Material fetches mermaid.js from a CDN for any <pre class="mermaid">.
        self.mermaid |= tag == "pre" and "mermaid" in (found.get("class") or "").split()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`make docs`'s build, into a folder of this test's own."""
    target = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)],
        cwd=REPO_ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return target


@pytest.mark.slow
def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > len(PAGES)  # every page, and 404.html
    for page in pages:
        assets = _Assets()
        assets.feed(page.read_text())
        remote = [url for url in assets.urls if re.match(r"(https?:)?//", url)]
        assert remote == [], f"{page.relative_to(site)} loads {remote}"
        assert not assets.mermaid, f"{page.relative_to(site)} would fetch mermaid.js"
        for url in assets.urls:  # and what it loads from here is there
            if not url.startswith(("data:", "#")):
                local = url.split("#")[0].split("?")[0]  # 404.html's are from the site's root
                target = (site / local.lstrip("/") if local.startswith("/")
                          else page.parent / local).resolve()
                assert target.exists(), f"{page.relative_to(site)} loads a missing {url}"
    for sheet in site.rglob("*.css"):
        remote = re.findall(r"(?:url\(|@import)\s*['\"]?((?:https?:)?//[^'\")\s]+)",
                            sheet.read_text())
        assert remote == [], f"{sheet.relative_to(site)} loads {remote}"


@pytest.mark.slow
def test_the_images_the_pages_show_are_in_the_site(site: Path) -> None:
    for image in ("inspector-task.png", "inspector-notifications.png", "lifecycle.svg"):
        assert (site / image).is_file()
    assert 'src="inspector-task.png"' in (site / "inspector.html").read_text()
    assert 'src="lifecycle.svg"' in (site / "lifecycle.html").read_text()


def test_the_api_reference_names_every_operation_of_the_api(tmp_path: Path) -> None:
    from sendai_server import create_app
    from sendai_server.config import Config

    app = create_app(Config(database_url=f"sqlite:///{tmp_path / 'spec.db'}"))
    document = app.test_client().get("/openapi.json").get_json()
    reference = "\n".join(path.read_text() for path in sorted((DOCS / "api").glob("*.md")))
    missing = []
    for path, operations in document["paths"].items():
        tail = re.sub(r"^/v2/\{team_id\}(/project/\{project_id\})?", "", path) or path
        for method in operations:
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            lines = [line for line in reference.splitlines()
                     if method.upper() in line and tail in line]
            if not lines:
                missing.append(f"{method.upper()} {path}")
    assert missing == []


def test_the_configuration_page_names_every_variable_config_py_reads() -> None:
    source = (REPO_ROOT / "sendai_server" / "config.py").read_text()
    read = set(re.findall(r"""env(?:\.get)?[(\[]["']([A-Z][A-Z0-9_]+)["']""", source))
    read |= set(re.findall(r"""_seconds\(\s*env,\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    assert {"DATABASE_URL", "SENDAI_ENV", "SENDAI_PIPELINE_DELAY"} <= read  # the patterns work
    page = (DOCS / "configuration.md").read_text()
    assert sorted(name for name in read if f"`{name}`" not in page) == []


def test_the_performance_page_shows_the_figures_of_bench_results_json() -> None:
    results = json.loads((REPO_ROOT / "bench" / "results.json").read_text())
    page = (DOCS / "performance.md").read_text()
    for table in tables(results):
        assert table in page, (
            "docs/performance.md is stale; paste tests.support.bench_figures.tables()")
