"""Waiting with a deadline, and `sendai-server worker` as a process of the test's own: what the
worker, pipeline and notification tests share."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.helpers import REPO_ROOT

CLI = str(Path(sys.executable).parent / "sendai-server")
DEADLINE = 30.0


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """`condition()`'s first true value; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


class WorkerProcess:
    """`sendai-server worker`, logging to a file; started once it says so. `env` is added to
    this process's environment; the test hooks are only what `barrier` and `env` say."""

    def __init__(self, env: dict[str, str], log_path: Path, *, barrier: Path | None = None,
                 lease: float = 60.0, args: tuple[str, ...] = ()) -> None:
        self.log_path = log_path
        environ = {**os.environ, "SENDAI_ENV": "test", "SENDAI_WORKER_POLL_SECONDS": "0.05",
                   "PYTHONPATH": os.pathsep.join([str(REPO_ROOT),
                                                  os.environ.get("PYTHONPATH", "")]),
                   **env, "SENDAI_JOB_LEASE_SECONDS": str(lease), "SENDAI_LOG_LEVEL": "INFO"}
        for hook in ("SENDAI_TEST_JOB_HANDLERS", "SENDAI_TEST_JOB_BARRIER"):
            if hook not in env:
                environ.pop(hook, None)
        if barrier is not None:
            environ["SENDAI_TEST_JOB_BARRIER"] = str(barrier)
        with open(log_path, "w") as log:
            self.process = subprocess.Popen([CLI, "worker", *args], cwd=REPO_ROOT, env=environ,
                                            stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: "worker started" in self.log() or self.process.poll() is not None,
                   f"the worker logging to {log_path.name} to start")
        assert self.process.poll() is None, self.log()

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGTERM, and its exit status once it has finished its job."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
