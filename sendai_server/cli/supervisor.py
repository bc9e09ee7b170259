"""serve's supervisor: gunicorn and one pipeline worker, run and stopped together."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading

from ..config import Config

log = logging.getLogger("sendai_server.cli")

# `sendai-server worker` as a child of this interpreter (whatever venv or checkout it runs from).
WORKER_ARGV = [sys.executable, "-c", "from sendai_server.cli import main; "
               "main(prog_name='sendai-server')", "worker"]


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
    server = subprocess.Popen(server_argv)
    worker = subprocess.Popen(worker_argv, process_group=0)
    while True:
        try:
            status = server.wait(timeout=1.0)
            break
        except subprocess.TimeoutExpired:
            pass
        if worker.poll() is not None and not stopping.is_set():
            log.warning("the pipeline worker exited with %s; starting another", worker.returncode)
            worker = subprocess.Popen(worker_argv, process_group=0)
    _stop_worker()
    try:
        worker.wait(timeout=Config.from_env().job_lease_seconds)
    except subprocess.TimeoutExpired:  # its job is due again once the lease runs out
        worker.kill()
        worker.wait()
    return status
