"""Helpers the tests share: request headers, paths, row counts, a live gunicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine, text

REPO_ROOT = Path(__file__).resolve().parents[2]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def task_path(seed: dict[str, Any], task_id: str, action: str = "") -> str:
    path = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task_id}"
    return f"{path}/{action}" if action else path


def count_rows(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, database_url: str, workers: int, env: dict[str, str] | None = None,
                 log_path: Path | None = None, ready_path: str = "/readyz"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environ = {**os.environ, "DATABASE_URL": database_url, "SENDAI_ENV": "test",
                   "SENDAI_LOG_LEVEL": "WARNING", **(env or {})}
        # gunicorn's and the app's log lines go to `log_path` when a test reads them.
        self.log = open(log_path or os.devnull, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers), "wsgi:app"],
            cwd=REPO_ROOT, env=environ, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_ready(ready_path)

    def _wait_ready(self, ready_path: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                if requests.get(f"{self.url}{ready_path}", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not up yet, or too busy to answer within 1 s
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("gunicorn did not become ready in time")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
