"""Issue 22 item 4, no orphans: what `sendai-server serve` starts ends when serve is gone, even
when serve is killed with SIGKILL and can stop nothing itself. Else a restart meets "address in
use", or two pipeline workers run, one with stale settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.support.helpers import REPO_ROOT, free_port
from tests.support.processes import CLI, DEADLINE, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]


def _parent_and_state(pid: int) -> tuple[int, str] | None:
    """(its parent's pid, its state letter) from /proc, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = stat[stat.rindex(")") + 2:].split()[:2]  # the name may hold spaces
    return int(ppid), state


def descendants(root: int) -> set[int]:
    """Every living process below root, at any depth."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _parent_and_state(int(entry.name))
            if found is not None and found[1] != "Z":
                children.setdefault(found[0], []).append(int(entry.name))
    below: set[int] = set()
    frontier = [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            below.add(child)
            frontier.append(child)
    return below


def alive(pid: int) -> bool:
    """Running: a zombie (ended, not yet reaped by whoever adopted it) counts as gone."""
    found = _parent_and_state(pid)
    return found is not None and found[1] != "Z"


def port_is_free(port: int) -> bool:
    """A new server could listen there, as gunicorn would (SO_REUSEADDR, as gunicorn sets it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


# `sendai-server serve` as on a system without Linux's parent-death signal (macOS): each child
# watches its parent instead (parent_watch.py).
SERVE_WITH_PARENT_WATCH = [
    sys.executable, "-c",
    "from sendai_server.cli import main; from sendai_server.process import supervisor; "
    "supervisor.PARENT_DEATH_SIGNAL = False; "
    "main(prog_name='sendai-server')",
]


def environment_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.mark.parametrize(
    "how, no_worker",
    [("parent-death-signal", False), ("parent-death-signal", True), ("parent-watch", False)],
    ids=["with-worker", "no-worker", "with-worker-watching-its-parent"],
)
def test_serve_killed_with_sigkill_leaves_no_process_and_frees_its_port(
    database_url: str, tmp_path: Path, how: str, no_worker: bool
) -> None:
    port = free_port()
    gunicorn_workers = 2
    command = [CLI] if how == "parent-death-signal" else SERVE_WITH_PARENT_WATCH
    env = {**os.environ, "DATABASE_URL": database_url, "SENDAI_ENV": "test",
           "SENDAI_WORKER_POLL_SECONDS": "0.05", "SENDAI_LOG_LEVEL": "INFO",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        serve = subprocess.Popen(
            [*command, "serve", "--bind", f"127.0.0.1:{port}", "--workers", str(gunicorn_workers),
             *(["--no-worker"] if no_worker else [])],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    started: set[int] = set()
    try:
        wait_until(lambda: ready(port) or serve.poll() is not None, "serve to answer /readyz")
        assert serve.poll() is None, log_path.read_text()
        # gunicorn's master (unless serve became it), its workers, and the pipeline worker.
        expected = gunicorn_workers if no_worker else 1 + gunicorn_workers + 1

        def all_started() -> set[int] | None:
            found = descendants(serve.pid)
            return found if len(found) == expected else None

        started = wait_until(all_started, f"serve's {expected} processes to start")
        if not no_worker:
            wait_until(lambda: "worker started" in log_path.read_text(),
                       "the pipeline worker to start")
        assert not port_is_free(port)  # the check below can fail
        watching = {pid for pid in started if "SENDAI_SUPERVISOR_PID" in environment_of(pid)}
        # gunicorn's master and its workers (which inherit it), the pipeline worker
        assert len(watching) == (expected if how == "parent-watch" else 0)

        serve.kill()
        serve.wait(timeout=DEADLINE)

        wait_until(lambda: not any(alive(pid) for pid in started),
                   "every process serve started to end")
        wait_until(lambda: port_is_free(port), f"port {port} to be free")
    finally:
        for pid in started:  # a failure here leaves nothing behind for the next test
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if serve.poll() is None:
            serve.kill()
            serve.wait()
