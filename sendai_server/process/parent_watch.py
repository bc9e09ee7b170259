"""A child of `sendai-server serve` that ends when serve is gone, where Linux's parent-death
signal (cli/supervisor.py) is missing: macOS, the BSDs. serve passes its pid to its children
(SENDAI_SUPERVISOR_PID, config.py); the pipeline worker and gunicorn's master each watch it
here. Light on purpose: gunicorn's master imports it without the application."""

from __future__ import annotations

import os
import signal
import threading

# How often a child looks at its parent: the longest it outlives serve.
POLL_SECONDS = 0.5


def end_with_parent(parent_pid: int | None, poll_seconds: float = POLL_SECONDS) -> None:
    """When this process's parent is no longer `parent_pid` (it ended, and this process was
    adopted), send this process SIGTERM: the same stop serve would have sent. None: nothing."""
    if parent_pid is None:
        return
    stop = threading.Event()  # never set: its wait() is the poll's pause

    def watch() -> None:
        while os.getppid() == parent_pid:
            stop.wait(poll_seconds)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="sendai-parent-watch", daemon=True).start()
