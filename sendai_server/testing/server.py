"""The plugin's server harness: the real application on a free port of 127.0.0.1 over a fresh,
migrated SQLite file, one pipeline worker with no delay, and the notifications receiver, all
in background threads of the test process. One per pytest session (`sendai_app_server`)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .. import create_app
from ..config import Config
from ..pipeline.worker import run_worker
from ..services.cleanup import drop_waiting_jobs, still_held
from ..services.connectors import ConnectorSpec
from ..services.projects import ProjectSettings
from ..services.team_helpers import HelperTeamSpec, make_team
from ..store import migrate
from ..store.uow import UnitOfWork
from ..web.context import engine_of
from .client import HelperClient
from .project import ROLES, SendAIProject
from .receiver import NotificationReceiver

# How often the session's idle worker looks for jobs (a new upload waits at most this long).
WORKER_POLL_SECONDS = 0.05
# How often a test's tear-down looks again (a read) while the worker holds one of its jobs.
HELD_JOB_POLL_SECONDS = 0.002
# How often the serving threads look for `close()`'s shutdown (the session's last wait).
SHUTDOWN_POLL_SECONDS = 0.05
# The events every project's connector subscribes to. Not `task.export`: an export would make
# COMPLETED tasks refuse unlock, a test's business to ask for.
RECEIVER_EVENTS = ("upload.in_review", "upload.processed")


class _QuietRequestHandler(WSGIRequestHandler):
    """The application logs every request itself (JSON, at INFO); werkzeug's access line
    would repeat it on standard error at every level."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class SendAIServer:
    """The application serving a migrated SQLite file (`folder/sendai.db`, its uploaded files
    in `folder/files`) on a free port, in a background thread, and one pipeline worker with no
    delay in another."""

    def __init__(self, folder: Path, *, log_level: str = "WARNING") -> None:
        self.database_url = f"sqlite:///{folder / 'sendai.db'}"
        migrate.upgrade(self.database_url)
        self.config = Config(
            env="test", database_url=self.database_url, test_helpers=True, log_level=log_level,
            storage_url=str(folder / "files"), pipeline_delay=0.0,
            worker_poll_seconds=WORKER_POLL_SECONDS,
        )
        self.app = create_app(self.config)
        self.engine: Engine = engine_of(self.app)
        self._stop_worker = threading.Event()
        self._worker = threading.Thread(
            target=run_worker, args=(self.engine, self.config),
            kwargs={"stop": self._stop_worker}, name="sendai-pipeline", daemon=True,
        )
        self._worker.start()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self.app, threaded=True, request_handler=_QuietRequestHandler,
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,),
            name="sendai-server", daemon=True,
        )
        self._thread.start()
        self.receiver = NotificationReceiver()
        self.client = HelperClient(self.base_url)
        self._mailboxes = itertools.count(1)

    def notifications_of(self, project_id: str) -> list[dict[str, Any]]:
        return self.receiver.notifications_of(project_id)

    def new_project(
        self, name: str = "pytest", settings: ProjectSettings | None = None,
        made: list[str] | None = None,
    ) -> SendAIProject:
        """A fresh team with one project (`settings`; by default the `manual` pipeline), its
        helpers' and edit keys and a connector to the session's receiver, and no tasks: made
        by the server's own call for it (`POST …/test_helpers/teams`'s, services/team_helpers.py)
        in one transaction. In process, not over HTTP: the server is in this process, and a
        request would cost about four times the CPU. Its id is added to `made`, the list of
        projects whose jobs `drop_jobs` drops when the test ends."""
        settings = settings or ProjectSettings(pipeline="manual")
        mailbox = f"pytest-{next(self._mailboxes)}"
        with UnitOfWork(self.engine) as uow:
            made_now = make_team(uow, HelperTeamSpec(
                name=name[:150], settings=settings,
                keys=[ROLES["helpers"], ROLES["edit"]],
                connector=ConnectorSpec(url=self.receiver.url_for(mailbox),
                                        name="pytest receiver", events=RECEIVER_EVENTS)))
        made = [] if made is None else made
        made.append(made_now["project_id"])
        project = SendAIProject(self, made_now["team_id"], made_now["project_id"], name, made,
                                receiver_connector_id=made_now["connector"]["id"],
                                mailbox=mailbox)
        for key in made_now["keys"]:
            project.keep_key(key["scopes"], key["key"])
        return project

    def drop_jobs(self, project_ids: Iterable[str], timeout: float = 30.0) -> int:
        """Delete the jobs of these projects, their tasks' and their notifications' deliveries
        (a test is over: its leftovers must not keep the worker from the next test's); how
        many. A job the worker is running is let finish first (what it queues is dropped too)."""
        ids = list(project_ids)
        if not ids:
            return 0
        dropped = 0
        deadline = time.monotonic() + timeout
        while True:
            with UnitOfWork(self.engine) as uow:
                leftovers = drop_waiting_jobs(uow, ids)
            dropped += leftovers.dropped
            if not leftovers.held:
                return dropped
            # Wait for the held job with reads (no write lock taken while the worker works),
            # then drop again: what it queued goes too.
            while time.monotonic() < deadline:
                with UnitOfWork(self.engine) as uow:
                    if not still_held(uow, ids):
                        break
                time.sleep(HELD_JOB_POLL_SECONDS)
            else:
                return dropped

    def close(self) -> None:
        """Stop serving, then stop the worker (the job it is running runs to its end)."""
        self.client.close()
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        self.receiver.close()
        self._stop_worker.set()
        self._worker.join(timeout=30)
        self.engine.dispose()
