"""serve's supervisor: gunicorn and one pipeline worker, run and stopped together."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

from ..config import Config

log = logging.getLogger("sendai_server.cli")

# `sendai-server worker` as a child of this interpreter (whatever venv or checkout it runs from).
WORKER_ARGV = [sys.executable, "-c", "from sendai_server.cli import main; "
               "main(prog_name='sendai-server')", "worker"]


# prctl(2): the signal a process gets when the thread that started it ends (linux/prctl.h).
_PR_SET_PDEATHSIG = 1


# Linux's parent-death signal; elsewhere each child watches its parent (parent_watch.py).
PARENT_DEATH_SIGNAL = sys.platform.startswith("linux")


def _ends_with_this_process() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when this process is gone, however it
    ended (a SIGKILL included), on Linux; None elsewhere. SIGTERM is what serve itself sends
    when it stops: gunicorn's master stops gracefully (its own workers end with it, as they
    watch their parent), the pipeline worker finishes its current job.

    Runs in the child between fork and exec: the setting survives exec. A parent that died
    before it took effect is caught by the parent check after it."""
    if not PARENT_DEATH_SIGNAL:
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded before the fork, not in the child
    parent = os.getpid()

    def preexec() -> None:
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


def _children_environment() -> dict[str, str] | None:
    """Without the parent-death signal, the children's environment names this process, so
    that they watch it themselves (the worker command, gunicorn_conf.on_starting)."""
    if PARENT_DEATH_SIGNAL:
        return None
    return {**os.environ, "SENDAI_SUPERVISOR_PID": str(os.getpid())}


class ServeCommand(list[str]):
    """gunicorn's argv, and the argv of the pipeline worker to run beside it (None: gunicorn
    alone). A list, so what `start` is handed still reads as the command it starts."""

    def __init__(self, argv: list[str], worker: list[str] | None) -> None:
        super().__init__(argv)
        self.worker = worker


def start(argv: list[str]) -> None:
    """Start the server: replace this process with argv (gunicorn) or, when argv carries a
    worker, supervise the two (a function of its own so tests can stand in for it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    worker = argv.worker if isinstance(argv, ServeCommand) else None
    if worker is None:
        os.execv(argv[0], argv)
    sys.exit(_supervise(list(argv), worker))


def _supervise(server_argv: list[str], worker_argv: list[str]) -> int:
    """Run gunicorn and one pipeline worker. SIGTERM and SIGINT go to gunicorn as they came and
    to the worker as SIGTERM (it finishes its current job); when gunicorn exits, the worker is
    stopped the same way and this exits with gunicorn's status. A worker that exits on its own
    meanwhile is started again.

    The worker has a process group of its own, so a Ctrl-C in the terminal reaches it only as
    this SIGTERM: a worker still starting up then ends quietly, not with a KeyboardInterrupt."""
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    stopping = threading.Event()

    def _stop_worker() -> None:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)

    def _forward(signum: int, _frame: object) -> None:
        stopping.set()
        if server is not None and server.poll() is None:
            server.send_signal(signum)
        _stop_worker()

    # Before the children start, so that a signal in between does not orphan them.
    signal.signal(signal.SIGTERM, _forward)
    signal.signal(signal.SIGINT, _forward)
    # Each child ends with this process, even when it is killed and can forward nothing.
    # Started from this thread only: the parent-death signal follows the thread that forked.
    ends_with_us, env = _ends_with_this_process(), _children_environment()
    server = subprocess.Popen(server_argv, preexec_fn=ends_with_us, env=env)
    worker = subprocess.Popen(worker_argv, process_group=0, preexec_fn=ends_with_us, env=env)
    while True:
        try:
            status = server.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        if worker.poll() is not None and not stopping.is_set():
            log.warning("the pipeline worker exited with %s; starting another", worker.returncode)
            worker = subprocess.Popen(worker_argv, process_group=0, preexec_fn=ends_with_us,
                                      env=env)
    _stop_worker()
    try:
        worker.wait(timeout=Config.from_env().job_lease_seconds)
    except subprocess.TimeoutExpired:  # its job is due again once the lease runs out
        worker.kill()
        worker.wait()
    return status
