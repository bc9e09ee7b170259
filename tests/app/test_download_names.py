"""The file download's `Content-Disposition` (docs/api/uploads.md, RFC 6266): the name a client
saves an uploaded file under is its base name, whole, whatever script or punctuation it holds; a
client that reads only `filename=` (curl -J) gets an ASCII name, and no client is sent a directory.

Read back three ways: Python's email parser, `curl -OJ` and a download in headless Chromium.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from sendai_server.config import Config
from sendai_server.services.keys import create_key
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.api.disposition import content_disposition
from tests.support import documents
from tests.support.browser import chromium
from tests.support.helpers import LiveServer, auth

# (the name uploaded, the name every client that reads filename* saves, curl's ASCII name)
NAMES = [
    ("Rechnung_Müller_€.pdf", "Rechnung_Müller_€.pdf", "Rechnung_Muller_EUR.pdf"),
    ("résumé 2024;x=1.pdf", "résumé 2024;x=1.pdf", "resume 2024;x=1.pdf"),
    ("../../../etc/passwd.pdf", "passwd.pdf", "passwd.pdf"),
    ("請求書.pdf", "請求書.pdf", "___.pdf"),
    ("100% sure.pdf", "100% sure.pdf", "100_ sure.pdf"),
]


def _filename(header: str) -> str | None:
    message = EmailMessage()
    message["Content-Disposition"] = header
    return message.get_filename()


def _fallback(header: str) -> str | None:
    """The `filename` parameter alone: what a client that knows no `filename*` reads."""
    message = EmailMessage()
    message["Content-Disposition"] = header.split("; ", 1)[0] + "; " + next(
        part for part in header.split("; ") if part.startswith("filename="))
    return message.get_filename()


@pytest.mark.parametrize(("name", "saved", "ascii_name"), NAMES + [
    ("C:\\Users\\anna\\scan 1.pdf", "scan 1.pdf", "scan 1.pdf"),
    ('say "cheese".pdf', 'say "cheese".pdf', 'say "cheese".pdf'),
    ("line\r\nbreak.pdf", "line__break.pdf", "line__break.pdf"),
    ("dir/", "file", "file"),
    ("..", "file", "file"),
])
def test_the_header_gives_the_base_name_whole_and_an_ascii_fallback(
    name: str, saved: str, ascii_name: str
) -> None:
    header = content_disposition(name)
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.startswith("inline; ")
    assert _filename(header) == saved
    assert _fallback(header) == ascii_name


@pytest.fixture
def key(uow: UnitOfWork, seed: dict[str, Any]) -> str:
    return create_key(uow, seed["team_id"], ["upload.read", "upload.create"],
                      [seed["project_id"]]).key


def _upload(client: FlaskClient, seed: dict[str, Any], key: str, name: str) -> str:
    """The upload's id; its one file is the sample invoice, under `name`."""
    answer = client.post(
        f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload",
        data={"file": [(io.BytesIO(documents.invoice_pdf()), name)]},
        content_type="multipart/form-data", headers=auth(key))
    assert answer.status_code == 200, answer.get_json()
    return str(answer.get_json()["id"])


def _file_path(seed: dict[str, Any], upload_id: str) -> str:
    return f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload/{upload_id}/files/0"


@pytest.mark.parametrize(("name", "saved", "ascii_name"), NAMES)
def test_the_download_names_the_uploaded_file_as_the_email_parser_reads_it(
    client: FlaskClient, seed: dict[str, Any], key: str, name: str, saved: str,
    ascii_name: str,
) -> None:
    upload_id = _upload(client, seed, key, name)
    answer = client.get(_file_path(seed, upload_id), headers=auth(key))
    assert answer.status_code == 200 and answer.data == documents.invoice_pdf()
    header = answer.headers["Content-Disposition"]
    assert _filename(header) == saved and _fallback(header) == ascii_name
    # The upload keeps the name as it was sent: only the download drops the directory.
    got = client.get(f"/v2/{seed['team_id']}/project/{seed['project_id']}/upload/{upload_id}",
                     headers=auth(key)).get_json()["payload"]
    assert [f["name"] for f in got["files"].values()] == [name]


# --- real clients against live gunicorn ---------------------------------------------------------

@pytest.fixture
def files(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def config(database_url: str, files: Path) -> Config:
    return Config(env="test", database_url=database_url, storage_url=str(files),
                  pipeline_delay=0.0)


@pytest.fixture
def server(database_url: str, files: Path, seed: dict[str, Any]) -> Iterator[LiveServer]:
    live = LiveServer(database_url, workers=1, env={"SENDAI_STORAGE_URL": str(files)})
    yield live
    live.stop()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_oj_saves_the_ascii_name_in_its_own_folder(
    client: FlaskClient, seed: dict[str, Any], key: str, server: LiveServer, tmp_path: Path,
) -> None:
    for name, _, ascii_name in NAMES:
        upload_id = _upload(client, seed, key, name)
        folder = tmp_path / f"curl-{upload_id}" / "downloads"
        folder.mkdir(parents=True)
        subprocess.run(
            ["curl", "--silent", "--show-error", "--fail", "-O", "-J",
             "-H", f"Authorization: Bearer {key}", server.url + _file_path(seed, upload_id)],
            cwd=folder, check=True, timeout=30)
        # Exactly one file, here, under the name: nothing in the folders above.
        assert [p.name for p in folder.iterdir()] == [ascii_name], name
        assert [p.name for p in folder.parent.iterdir()] == ["downloads"]
        assert (folder / ascii_name).read_bytes() == documents.invoice_pdf()


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(downloads: Path) -> Iterator[Any]:
    """Chromium that saves a PDF instead of showing it (the download is `inline`)."""
    yield from chromium({"plugins.always_open_pdf_externally": True,
                         "download.default_directory": str(downloads),
                         "download.prompt_for_download": False})


@pytest.mark.slow
def test_chromium_saves_the_download_under_its_whole_name(
    browser: Any, client: FlaskClient, seed: dict[str, Any], key: str, server: LiveServer,
    downloads: Path,
) -> None:
    # The API wants the key in a header, which a navigation does not send: DevTools adds it.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                            {"headers": {"Authorization": f"Bearer {key}"}})
    browser.execute_cdp_cmd("Browser.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(downloads)})
    for name, saved, _ in NAMES:
        upload_id = _upload(client, seed, key, name)
        before = set(os.listdir(downloads))
        browser.get(server.url + _file_path(seed, upload_id))
        new = _wait_for_download(downloads, before)
        assert new.name == saved, name
        assert new.read_bytes() == documents.invoice_pdf()


def _wait_for_download(folder: Path, before: set[str], timeout: float = 20.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [n for n in set(os.listdir(folder)) - before if not n.endswith(".crdownload")]
        if done:
            assert len(done) == 1, done
            return folder / done[0]
        time.sleep(0.05)
    raise AssertionError(f"no download finished in {timeout} s: {os.listdir(folder)}")

