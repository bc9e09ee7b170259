"""A host of the several-hosts deployment (docs/hosts.md): `ServerHost` runs `sendai-server
serve` (gunicorn and its pipeline worker) in a network namespace (tests/support/netns.py), for
tests/live/test_hosts.py and bench/chaos_cluster.py alike."""

from __future__ import annotations

import signal
import subprocess
from contextlib import suppress
from pathlib import Path
from typing import Any

import requests

from tests.support import netns
from tests.support.helpers import auth
from tests.support.processes import CLI, DEADLINE, wait_until

LEASE_SECONDS = 3.0
BUCKET = "sendai-hosts"
START_DEADLINE = 90.0
# Variables of this machine or of other tests that must not reach the hosts.
NOT_PASSED = ("SENDAI_TEST_JOB_BARRIER", "SENDAI_TEST_JOB_HANDLERS", "SENDAI_SECRET_KEY",
              "SENDAI_PUBLIC_URL", "SENDAI_BIND", "SENDAI_STORAGE_URL", "DATABASE_URL",
              "AWS_PROFILE", "AWS_SESSION_TOKEN")


class ServerHost:
    """`sendai-server serve` (gunicorn and its pipeline worker) in a host's namespace."""

    def __init__(self, name: str, host: netns.Host, env: dict[str, str], folder: Path) -> None:
        self.name = name
        self.host = host
        self.env = env
        self.folder = folder  # its working directory: where local files would go
        self.folder.mkdir()
        self.url = f"http://{host.address}:8000"
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self, **extra_env: str) -> None:
        self.starts += 1
        self.log_path = self.folder.parent / f"{self.name}-{self.starts}.log"
        with open(self.log_path, "w") as log:
            self.process = self.host.popen(
                [CLI, "serve", "--bind", f"{self.host.address}:8000", "--workers", "2"],
                env={**self.env, **extra_env}, cwd=self.folder, log=log)
        wait_until(self._serving, f"host {self.name} to serve", START_DEADLINE)
        wait_until(lambda: "worker started" in self.log(), f"host {self.name}'s worker",
                   START_DEADLINE)

    def _serving(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            return requests.get(self.url + "/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def log(self) -> str:
        return self.log_path.read_text()

    def worker_pid(self) -> int:
        """The pipeline worker `serve` runs beside gunicorn (its child whose command ends with
        `worker`)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        for pid in children.read_text().split():
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            if argv[-1] == b"worker":
                return int(pid)
        raise AssertionError(f"no worker among serve's children: {children.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):  # then killed below
                self.process.wait(timeout=DEADLINE)
        self.host.kill_everything()
        if self.process is not None:
            self.process.wait()

    def get(self, path: str, key: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, headers=auth(key), timeout=10, **kwargs)

    def post(self, path: str, key: str, **kwargs: Any) -> requests.Response:
        return requests.post(self.url + path, headers=auth(key), timeout=10, **kwargs)
