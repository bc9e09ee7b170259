"""Every install line in the README works as written (issue 21): each ```sh block of README.md
that has a `pip install` line is an install recipe, run as it stands in a fresh virtual
environment, from a copy of this checkout (what `git ls-files` lists, committed or not). The
environment then has the `sendai-server` command, and pytest finds the plugin by its entry point
and runs a test with the `sendai` fixture."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helpers import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()
SH_BLOCKS = re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S)
RECIPES = [block for block in SH_BLOCKS if re.search(r"^pip install ", block, re.M)]

A_SENDAI_TEST = """
def test_the_fixture_works(sendai):
    assert sendai.get_task(sendai.task())["status"] == "REVIEWING"
"""


def _recipe_id(recipe: str) -> str:
    return " && ".join(line.split("#")[0].strip() for line in recipe.strip().splitlines())


def test_the_readme_installs_from_a_checkout_or_a_wheel_and_never_from_an_index() -> None:
    assert [_recipe_id(recipe) for recipe in RECIPES] == [
        "pip install '.[pytest]'",
        'make dist && pip install "$(ls dist/sendai_server-*.whl)[pytest]"',
    ]
    assert not re.search(r"pip install ['\"]?sendai-server", README)


def _copy_checkout(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():  # a file deleted but not yet committed is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=_recipe_id)
def test_an_install_recipe_of_the_readme_works_in_a_fresh_virtual_environment(
    recipe: str, tmp_path: Path
) -> None:
    checkout = _copy_checkout(tmp_path / "checkout")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {name: value for name, value in os.environ.items()
           if name not in {"PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS"}}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")

    installed = subprocess.run(["bash", "-e", "-c", recipe], cwd=checkout, env=env,
                               capture_output=True, text=True, timeout=1200)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    helped = subprocess.run([str(venv / "bin" / "sendai-server"), "--help"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr
    assert "Usage: sendai-server" in helped.stdout

    project = tmp_path / "project"  # another project's tests: nothing of the checkout's
    project.mkdir()
    (project / "test_it.py").write_text(A_SENDAI_TEST)
    ran = subprocess.run([str(venv / "bin" / "pytest"), "--trace-config", "-p",
                          "no:cacheprovider", "test_it.py"], cwd=project, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert re.search(r"PLUGIN registered: <module 'sendai_server\.testing\.plugin'", ran.stdout)
    assert "1 passed" in ran.stdout
