"""The command line (docs/cli.md) for a test: `run` in-process (click's runner), `run_process` as
the installed `sendai-server` in a subprocess, each against a database URL."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from click.testing import CliRunner

from sendai_server.cli import main
from tests.support.helpers import REPO_ROOT
from tests.support.processes import CLI


def run(database_url: str, *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env={"DATABASE_URL": database_url},
                              catch_exceptions=False)


def run_process(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run([CLI, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
