"""Every code block of the documentation and of README.md marked runnable runs as written
(issue 31): a line `<!-- runnable -->` right before a fenced block marks it.

- A Python block with `def test_` functions is a test file: it runs under pytest, with the
  plugin found by its entry point, in an empty folder (nothing of this checkout beside it);
  all such files in one pytest session, as a project's tests share the plugin's server.
- Any other Python block runs as a script, with the shell blocks' variables in its environment.
- A shell block runs under `bash -e -o pipefail` against a live `sendai-server serve` (gunicorn
  and its pipeline worker), in a folder holding `sendai_server/samples/invoice.pdf`, with
  `sendai-server` on the PATH, DATABASE_URL naming the server's database, and BASE, TEAM,
  PROJECT, KEY and TASK set as docs/getting-started.md makes them (a fresh `seed` per block).
  Every `curl` must get a 2xx unless the block prints the status itself (`-w`).

The README's blocks are held to more: each is runnable, or an install recipe that
tests/live/test_readme_install.py runs, or one of the two commands (`make run`, `make test`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.helpers import REPO_ROOT, free_port

MARKER = "<!-- runnable -->"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)
SAMPLE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Snippet:
    source: str  # the file, relative to the repository
    line: int
    language: str
    code: str
    runnable: bool

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    text = path.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        found.append(Snippet(path.relative_to(REPO_ROOT).as_posix(),
                             text.count("\n", 0, match.start()) + 1, match.group(1),
                             match.group(2), before == MARKER))
    return found


README = snippets(REPO_ROOT / "README.md")
DOCUMENTED = README + [snippet for page in sorted((REPO_ROOT / "docs").rglob("*.md"))
                       for snippet in snippets(page)]
RUNNABLE = [snippet for snippet in DOCUMENTED if snippet.runnable]


def test_runnable_blocks_are_found_and_each_is_a_language_the_runner_knows() -> None:
    assert len(RUNNABLE) >= 20
    assert {s.language for s in RUNNABLE} == {"python", "sh"}
    text = "\n".join((REPO_ROOT / name).read_text() for name in {s.source for s in DOCUMENTED})
    markers = re.findall(rf"^{re.escape(MARKER)}$", text, re.M)
    assert len(markers) == len(RUNNABLE)  # no marker stands before anything but a block


def test_the_readme_shows_a_runnable_plugin_test() -> None:
    tests = [s for s in README if s.runnable and s.language == "python"
             and re.search(r"^def test_\w+\(sendai\)", s.code, re.M)]
    assert tests, "README.md needs a runnable first test with the plugin"


def test_every_readme_block_is_runnable_an_install_recipe_or_one_of_the_two_commands() -> None:
    for snippet in README:
        if snippet.runnable:
            continue
        commands = [line.split("#")[0].strip() for line in snippet.code.splitlines()]
        commands = [command for command in commands if command]
        assert commands and all(
            command in {"make run", "make test", "make docs", "make dist"}
            or command.startswith(("pip install ", ".venv/bin/mkdocs serve"))
            for command in commands
        ), f"README.md:{snippet.line} is neither runnable nor a command the tests run"


# --- the runner -------------------------------------------------------------------------------

@dataclass
class Served:
    url: str
    database_url: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`sendai-server serve` as a user starts it, on a database of its own."""
    folder = tmp_path_factory.mktemp("served")
    database_url = f"sqlite:///{folder / 'sendai.db'}"
    env = {**os.environ, "DATABASE_URL": database_url, "SENDAI_LOG_LEVEL": "WARNING",
           "SENDAI_STORAGE_URL": str(folder / "files"), "SENDAI_PIPELINE_DELAY": "0.1"}
    subprocess.run([str(BIN / "sendai-server"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    port = free_port()
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "sendai-server"), "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (folder / "serve.log").read_text()[-3000:]
            try:
                if requests.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "serve was not ready within 60 s"
            time.sleep(0.1)
        yield Served(url, database_url)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _curl_that_must_succeed(folder: Path) -> Path:
    """A `curl` first on the PATH that adds --fail-with-body unless the block asks for the
    status itself (-w), so a block whose request is refused fails here."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "curl"
    shim.write_text(
        "#!/bin/bash\n"
        'for arg in "$@"; do case "$arg" in -w|--write-out) '
        f'exec {shutil.which("curl")} "$@";; esac; done\n'
        f'exec {shutil.which("curl")} --fail-with-body "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def _environment(served: Served, folder: Path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": served.database_url,
           "PATH": f"{_curl_that_must_succeed(folder)}{os.pathsep}{BIN}{os.pathsep}"
                   f"{os.environ['PATH']}"}
    seeded = subprocess.run([str(BIN / "sendai-server"), "seed", "--json"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    seed = json.loads(seeded.stdout)
    return {**env, "BASE": served.url, "TEAM": seed["team_id"], "PROJECT": seed["project_id"],
            "KEY": seed["keys"]["helpers"], "TASK": seed["tasks"]["REVIEWING"][0]}


def _is_test_file(snippet: Snippet) -> bool:
    return snippet.language == "python" and bool(re.search(r"^def test_", snippet.code, re.M))


@dataclass
class SessionResult:
    outcomes: dict[str, list[str]]  # a test file's name -> each of its tests' outcome
    output: str


@pytest.fixture(scope="module")
def test_files_run(tmp_path_factory: pytest.TempPathFactory) -> SessionResult:
    """Every runnable test file of the docs, each as its own module, in one pytest session."""
    folder = tmp_path_factory.mktemp("snippets")
    for index, snippet in enumerate(s for s in RUNNABLE if _is_test_file(s)):
        (folder / f"test_snippet_{index}.py").write_text(snippet.code)
    env = {name: value for name, value in os.environ.items()
           if name not in {"PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--junitxml", "junit.xml"], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=900)
    outcomes: dict[str, list[str]] = {}
    for case in ET.parse(folder / "junit.xml").getroot().iter("testcase"):
        found = [child.tag for child in case if child.tag in {"failure", "error", "skipped"}]
        module = case.get("classname", "").rsplit(".", 1)[-1]
        outcomes.setdefault(f"{module}.py", []).append(found[0] if found else "passed")
    return SessionResult(outcomes, ran.stdout[-6000:] + ran.stderr[-2000:])


@pytest.mark.slow
@pytest.mark.parametrize("snippet", RUNNABLE, ids=lambda snippet: snippet.id)
def test_a_runnable_block_runs_as_written(snippet: Snippet, tmp_path: Path,
                                          request: pytest.FixtureRequest) -> None:
    if _is_test_file(snippet):
        session: SessionResult = request.getfixturevalue("test_files_run")
        index = [s for s in RUNNABLE if _is_test_file(s)].index(snippet)
        outcomes = session.outcomes.get(f"test_snippet_{index}.py")
        assert outcomes and set(outcomes) == {"passed"}, (
            f"{snippet.id}: {outcomes}\n{session.output}")
        return
    served: Served = request.getfixturevalue("served")
    (tmp_path / "sendai_server" / "samples").mkdir(parents=True)
    shutil.copy(SAMPLE, tmp_path / "sendai_server" / "samples" / "invoice.pdf")
    env = _environment(served, tmp_path)
    if snippet.language == "python":
        (tmp_path / "snippet.py").write_text(snippet.code)
        command = [sys.executable, "snippet.py"]
    else:
        command = ["bash", "-e", "-o", "pipefail", "-c", snippet.code]
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, f"{snippet.id}\n{ran.stdout[-4000:]}{ran.stderr[-4000:]}"
    assert "internal_error" not in ran.stdout + ran.stderr
