"""A test hook, off unless SENDAI_TEST_STATEMENT_BARRIER names a folder (ignored in
production, config.py): hold one SQL statement before it runs, so that a test can do something
to its connection meanwhile (end its PostgreSQL backend, cut its link) and see what the server
answers. The same shape as the worker's job barrier (pipeline/worker.py), for statements.

The protocol, in that folder:

- the test writes a file `hold` holding the start of a statement (`UPDATE task`, `DELETE FROM
  job`; compared without case, after leading blanks);
- the first statement of this process that starts so takes the file (renames it, so one
  statement only, in one process only) to `held-<backend pid>`: the database's process id of
  the connection (0 on SQLite), which a test can end with `pg_terminate_backend`;
- it then waits until a file `release` appears (for at most `TIMEOUT_SECONDS`; then it goes on
  and logs a warning), and runs.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger("sendai_server.store.db")

TIMEOUT_SECONDS = 60.0


def install(engine: Engine, folder: str | Path, timeout: float = TIMEOUT_SECONDS) -> None:
    """Hold the statement the folder's `hold` file names, on every connection of `engine`."""
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    hold = path / "hold"

    @event.listens_for(engine, "before_cursor_execute")
    def _maybe_hold(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not hold.exists():
            return
        try:
            wanted = hold.read_text().strip().upper()
        except FileNotFoundError:
            return
        if not wanted or not statement.lstrip().upper().startswith(wanted):
            return
        info = getattr(conn.connection.dbapi_connection, "info", None)
        held = path / f"held-{getattr(info, 'backend_pid', 0)}"
        try:
            os.rename(hold, held)
        except FileNotFoundError:
            return  # another statement (or process) took it first
        release = path / "release"
        deadline = time.monotonic() + timeout
        while not release.exists():
            if time.monotonic() > deadline:
                log.warning("test barrier: no %s after %.0f s; going on", release, timeout)
                return
            time.sleep(0.01)  # a test hook: polling a file is simple, portable and cheap enough
