"""The pytest plugin for teams that integrate with Send AI (API.md §13).

`pip install 'sendai-server[pytest]'` registers this module with pytest (entry point
`pytest11`, name `sendai`). A test asks for the `sendai` fixture and points its client at
`sendai.base_url`:

    def test_discard(sendai):
        task_id = sendai.task(status="REVIEWING")
        client = MyClient(sendai.base_url, sendai.key("task.read", "task.edit"))
        client.discard(sendai.team_id, sendai.project_id, task_id)
        assert sendai.get_task(task_id)["status"] == "DISCARDED"

    def test_upload(sendai):
        project = sendai.project(pipeline="auto")       # the pipeline moves its tasks
        [task_id] = project.upload("invoice.pdf")["taskIds"]
        project.wait_for(task_id, "REVIEWING")           # extracted, annotated

What runs is the real application (`create_app`, the same one `sendai-server serve` runs) on
a free port of 127.0.0.1, over real HTTP, on a fresh SQLite file in pytest's temporary folder,
migrated, with its uploaded files in a folder beside it and one pipeline worker (`run_worker`,
the same loop `sendai-server worker` runs) in a background thread with no delay: a step is
due at once and an idle worker looks for jobs every 0.05 s. The server starts once per session
(fixture `sendai_app_server`); each test's `sendai` is a fresh team and project in it, and
`sendai.project()` makes more, so what one test leaves behind (a task in any state, a key, an
upload, an outcome) is out of every other test's sight without a restart. When a test ends,
the jobs its projects still have waiting are dropped, so the worker goes straight to the next
test's (a job the worker is running at that moment runs to its end, on the old project).

The fixture's own project has the `manual` pipeline (API.md §8), so tasks made with `task()`
stay where they are put and only the test helpers move them. `upload()` to it stores the files
and the worker still extracts them (pages and annotations appear), but their tasks stay
PROCESSING. A test of the whole flow asks for `sendai.project(pipeline="auto")`, whose uploads
the worker moves to REVIEWING or COMPLETED by the project's `automation`, or to whatever
`outcome()` registered for the file.

Tasks are made and moved through the test helpers over HTTP (API.md §6), as a client would:
the same validation, state machine and audit trail as every other change. Every project has a
connector to the session's own receiver for its uploads' notifications (`upload.in_review`,
`upload.processed`; not `task.export`, whose export would make COMPLETED tasks refuse unlock):
`notifications` is what it got for the project, `wait_for_notifications` waits for them.

The ini option `sendai_log_level` (default WARNING) sets the server's log level; its JSON log
lines go to standard error, so pytest shows them with a failing test (INFO adds one line per
request).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import mimetypes
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, case, delete, func, or_, select
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import create_app, migrate
from .config import Config
from .lifecycle import TaskStatus
from .models import Connector, Job, Notification, utcnow
from .models import Task as TaskRow
from .pipeline.jobs import DELIVER
from .pipeline.worker import run_worker
from .services.connectors import ConnectorSpec, create_connector
from .services.demo import EDIT_SCOPES, HELPER_SCOPES
from .services.keys import canonical_scope, create_key
from .services.projects import ProjectSettings, create_project, create_team
from .uow import UnitOfWork

__all__ = ["SendAIHelperError", "SendAIProject", "SendAIServer", "WaitTimeout"]

# Keys by role, as `sendai-server seed` names them (API.md §7).
ROLES: dict[str, tuple[str, ...]] = {
    "edit": tuple(EDIT_SCOPES),
    "read": ("task.read",),
    "helpers": tuple(HELPER_SCOPES),
}
HTTP_TIMEOUT = 10.0

Task = dict[str, Any]
"""A public task object (API.md §5), as the API answers it."""

StatusOrPredicate = str | Iterable[str] | Callable[[Task], bool]

File = str | os.PathLike[str] | tuple[str, bytes]
"""A file to upload: a path, or `(name, bytes)`."""

# How often the session's idle worker looks for jobs (a new upload waits at most this long).
WORKER_POLL_SECONDS = 0.05


class SendAIHelperError(Exception):
    """A request the plugin made for a test was refused: the answer's status and body are
    kept, and the message names the request and the API's error code and message."""

    def __init__(self, method: str, url: str, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        error = body.get("error", {}) if isinstance(body, dict) else {}
        what = f"{error.get('code')}: {error.get('message')}" if error else repr(body)[:500]
        super().__init__(f"{method} {url} answered {status} ({what})")


class WaitTimeout(AssertionError):
    """`wait_for` ran out of time: the message says what it waited for and what it last saw."""


class _QuietRequestHandler(WSGIRequestHandler):
    """The application logs every request itself (JSON, at INFO); werkzeug's access line
    would repeat it on standard error at every level."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class _NotificationReceiver(http.server.BaseHTTPRequestHandler):
    """The session's webhook receiver: answers 200 and keeps every notification's body, by
    the project in its path (each project's connector points at `/<project_id>`)."""

    received: dict[str, list[dict[str, Any]]]
    lock: threading.Lock

    def _receive(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            document = json.loads(body)
        except ValueError:
            document = {"unparsed": body.decode(errors="replace")}
        with self.lock:
            self.received.setdefault(self.path.strip("/"), []).append(document)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PUT = do_PATCH = _receive  # noqa: N815 - http.server's names

    def log_message(self, *_args: Any) -> None:
        pass


class SendAIServer:
    """The application serving a migrated SQLite file (`folder/sendai.db`, its uploaded files
    in `folder/files`) on a free port, in a background thread, and one pipeline worker with no
    delay in another. One per pytest session (the `sendai_app_server` fixture)."""

    def __init__(self, folder: Path, *, log_level: str = "WARNING") -> None:
        self.database_url = f"sqlite:///{folder / 'sendai.db'}"
        migrate.upgrade(self.database_url)
        self.config = Config(
            env="test", database_url=self.database_url, test_helpers=True, log_level=log_level,
            storage_url=str(folder / "files"), pipeline_delay=0.0,
            worker_poll_seconds=WORKER_POLL_SECONDS,
        )
        self.app = create_app(self.config)
        self.engine: Engine = self.app.extensions["sendai_engine"]
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
            target=self._server.serve_forever, name="sendai-server", daemon=True,
        )
        self._thread.start()
        # The receiver every project's connector points at (API.md §13's `notifications`).
        self.received: dict[str, list[dict[str, Any]]] = {}
        self._receiver_lock = threading.Lock()
        handler = type("Receiver", (_NotificationReceiver,), {
            "received": self.received, "lock": self._receiver_lock})
        self.receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._receiver_thread = threading.Thread(
            target=self.receiver.serve_forever, name="sendai-receiver", daemon=True)
        self._receiver_thread.start()

    def notifications_of(self, project_id: str) -> list[dict[str, Any]]:
        with self._receiver_lock:
            return list(self.received.get(project_id, ()))

    def new_project(
        self, name: str = "pytest", settings: ProjectSettings | None = None,
        made: list[str] | None = None,
    ) -> SendAIProject:
        """A fresh team with one project (`settings`; by default the `manual` pipeline) and no
        tasks; its keys are made when first asked. Its id is added to `made`, the list of
        projects whose jobs `drop_jobs` drops when the test ends."""
        with UnitOfWork(self.engine) as uow:
            team_id = create_team(uow, name[:150])
            project_id, _ = create_project(uow, team_id, name[:150],
                                           settings or ProjectSettings(pipeline="manual"))
            # The uploads' notifications go to the session's receiver. Not `task.export`: an
            # export would make COMPLETED tasks refuse unlock, a test's business to ask for.
            create_connector(uow, project_id, ConnectorSpec(
                url=f"http://127.0.0.1:{self.receiver.server_port}/{project_id}",
                name="pytest receiver", events=("upload.in_review", "upload.processed")))
        made = [] if made is None else made
        made.append(project_id)
        return SendAIProject(self, team_id, project_id, name, made)

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
            gone, held = self._drop_free_jobs(ids)
            dropped += gone
            if not held or time.monotonic() >= deadline:
                return dropped
            time.sleep(0.02)

    def _drop_free_jobs(self, ids: list[str]) -> tuple[int, bool]:
        """One pass of `drop_jobs`: how many it dropped, and whether the worker holds one."""
        free = or_(Job.leased_until.is_(None), Job.leased_until <= utcnow())
        with UnitOfWork(self.engine) as uow, uow.write() as conn:
            theirs = Job.task_id.in_(select(TaskRow.id).where(TaskRow.project_id.in_(ids)))
            dropped = conn.execute(delete(Job).where(theirs, free)).rowcount
            held = (conn.scalar(select(func.count()).select_from(Job).where(theirs)) or 0) > 0
            # Deliveries name their notification in their payload (JSON, read here in Python).
            seqs = set(conn.scalars(
                select(Notification.seq).where(Notification.project_id.in_(ids))))
            deliveries = [(job_id, is_free) for job_id, payload, is_free in conn.execute(
                select(Job.id, Job.payload, case((free, True), else_=False))
                .where(Job.kind == DELIVER))
                if (payload or {}).get("notification") in seqs]
            free_ids = [job_id for job_id, is_free in deliveries if is_free]
            if free_ids:
                dropped += conn.execute(delete(Job).where(Job.id.in_(free_ids))).rowcount
            held = held or len(free_ids) < len(deliveries)
            # Their connectors go (with their notifications) once nothing is being delivered:
            # then no delivery queues a next one.
            if not held:
                conn.execute(delete(Connector).where(Connector.project_id.in_(ids)))
        return dropped, held

    def close(self) -> None:
        """Stop serving, then stop the worker (the job it is running runs to its end)."""
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        self.receiver.shutdown()
        self.receiver.server_close()
        self._stop_worker.set()
        self._worker.join(timeout=30)
        self.engine.dispose()


@dataclass
class SendAIProject:
    """One team's project on the test server, with keys for it and helpers to put its tasks
    in any state. Everything here goes over HTTP with a key of this project, so nothing it
    does reaches another project."""

    server: SendAIServer
    team_id: str
    project_id: str
    name: str = "pytest"
    # The ids of every project of this test (shared with those `project()` makes).
    made: list[str] = field(default_factory=list, repr=False)
    _keys: dict[frozenset[str], str] = field(default_factory=dict, repr=False)

    @property
    def base_url(self) -> str:
        """Where a client points instead of https://api.send.ai (no trailing slash)."""
        return self.server.base_url

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """What the session's receiver got for this project so far, oldest first: Send AI's
        notification payloads (API.md §11: `event` UPLOAD_IN_REVIEW or UPLOAD_PROCESSED,
        `upload`, ...). Deliveries are asynchronous: wait for them with
        `wait_for_notifications`."""
        return self.server.notifications_of(self.project_id)

    def wait_for_notifications(
        self, count: int = 1, event: str | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The project's notifications (only those of `event`, when given), once at least
        `count` have arrived; WaitTimeout otherwise, naming what did arrive."""
        deadline = time.monotonic() + timeout
        while True:
            got = [n for n in self.notifications if event is None or n.get("event") == event]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                seen = [n.get("event") for n in self.notifications]
                raise WaitTimeout(f"waited {timeout:g} s for {count} notification(s)"
                                  f"{f' {event}' if event else ''}; got {seen}")
            time.sleep(0.02)

    @property
    def api_url(self) -> str:
        """The project's base path (API.md §1): `{base_url}/v2/{team_id}/project/{project_id}`."""
        return f"{self.base_url}/v2/{self.team_id}/project/{self.project_id}"

    # --- keys ------------------------------------------------------------------------------

    def key(self, *scopes: str) -> str:
        """A plain API key of this project's team, added to this project, holding `scopes`
        (API.md §3; Send AI's aliases such as `tasks.view` are accepted). No scopes: task.read
        and task.edit. The same scopes give the same key within a test."""
        wanted = frozenset(canonical_scope(scope) for scope in scopes or ROLES["edit"])
        if wanted not in self._keys:
            with UnitOfWork(self.server.engine) as uow:
                created = create_key(uow, self.team_id, sorted(wanted), [self.project_id],
                                     "pytest " + " ".join(sorted(wanted)))
            self._keys[wanted] = created.key
        return self._keys[wanted]

    @property
    def keys(self) -> dict[str, str]:
        """Keys by role, as `sendai-server seed` names them: `edit` (task.read, task.edit),
        `read` (task.read), `helpers` (test_helpers, task.read, task.edit)."""
        return {role: self.key(*scopes) for role, scopes in ROLES.items()}

    # --- tasks -----------------------------------------------------------------------------

    def task(
        self,
        status: str = TaskStatus.REVIEWING,
        pages: list[dict[str, Any]] | None = None,
        meta: list[dict[str, str]] | None = None,
        name: str | None = None,
    ) -> str:
        """Create a task in `status` and return its id (the test helpers, API.md §6). `pages`
        are page objects without ids (`width`, `height`, `annotations`, `checkboxes`,
        `segments`, `signatures`), `meta` a list of `{"name", "value"}`."""
        body: dict[str, Any] = {"status": str(status), "pages": pages or [], "meta": meta or []}
        if name is not None:
            body["name"] = name
        created = self._helper("POST", "/test_helpers/task", body)
        task_id: str = created["payload"]["id"]
        return task_id

    def advance(self, task_id: str, event: str) -> Task:
        """Fire a pipeline event on the task (`to_review`, `auto_complete`, `fail`, `filter`,
        `retry`, `export`, `export_fail`) and return the task as it now is. An event its state
        forbids raises SendAIHelperError (400 invalid_task_state)."""
        answer = self._helper("POST", f"/test_helpers/task/{task_id}/advance", {"event": event})
        task: Task = answer["payload"]
        return task

    def get_task(self, task_id: str) -> Task:
        """The task as `GET .../task/{task_id}` answers it (its `payload`)."""
        answer = self._helper("GET", f"/task/{task_id}", key=self.key("task.read"))
        task: Task = answer["payload"]
        return task

    def wait_for(
        self, task_id: str, status: StatusOrPredicate, timeout: float = 5.0,
        interval: float = 0.05,
    ) -> Task:
        """Poll the task until it is in `status` (a status, or several: any of them) or
        `status(task)` is true, and return the task. After `timeout` seconds, fail with a
        WaitTimeout naming the task, what was awaited and the task as last seen. A task this
        project cannot see fails at once."""
        wanted, description = _condition(status)
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            task = self.get_task(task_id)
            polls += 1
            if wanted(task):
                return task
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"waited {timeout:g} s for task {task_id} to be {description}; "
                    f"last seen after {polls} polls: {_summary(task)}"
                )
            time.sleep(interval)

    def project(
        self,
        automation: str = "auto_predict",
        pipeline: str = "manual",
        threshold: float = 0.9,
        delay: float | None = None,
    ) -> SendAIProject:
        """Another fresh team and project on the same server, with these settings (API.md §8):
        for a test that needs two (isolation: neither's keys see the other's tasks or
        uploads), or uploads that the pipeline moves (`pipeline="auto"`). `automation` is
        `none`, `auto_predict` or `auto_process` (COMPLETED when every annotation's confidence
        is at least `threshold`); `delay` is the seconds each pipeline step takes (None: the
        session's 0). The defaults are the fixture's own project's: `manual`."""
        settings = ProjectSettings(automation=automation, threshold=threshold,
                                   pipeline=pipeline, delay=delay)
        return self.server.new_project(self.name, settings, self.made)

    # --- uploads -----------------------------------------------------------------------------

    def upload(self, *files: File, **fields: Any) -> dict[str, Any]:
        """Upload `files` (each a path, or `(name, bytes)`) in one request, as a client would
        (multipart to `.../upload`, API.md §9), and return Send AI's create answer: `id`,
        `status`, `taskIds` (one task per file, in order), ... Fields: `name` (the upload's
        name), `meta` (a list of `(name, value)` pairs or `{"name", "value"}` objects, sent as
        JSON text), and any other form field as text (`projectId=...`). A refusal (a type the
        pipeline cannot read, a bad `meta`) raises SendAIHelperError.

        An email (`.eml`, API.md §9) is one file that becomes several tasks: its body's, then
        one per attachment of an accepted type (`taskIds` lists them all, body first).

        Each file's task is PROCESSING at first. On a project with `pipeline="auto"` the
        worker extracts it and moves it on at once (`wait_for`); on a `manual` one, such as
        the fixture's own, it is extracted but stays PROCESSING."""
        if not files:
            raise TypeError("upload() needs at least one file")
        parts: list[tuple[str, str | None, bytes]] = []
        for file in files:
            name, content = _read(file)
            parts.append(("file", name, content))
        for name, value in fields.items():
            if name == "meta" and not isinstance(value, str):
                value = json.dumps([_meta_pair(pair) for pair in value])
            parts.append((name, None, str(value).encode()))
        boundary, body = _multipart(parts)
        return self._call("POST", "/upload", body, f"multipart/form-data; boundary={boundary}",
                          self.key(*ROLES["helpers"]))

    def outcome(
        self, file: File | bytes, status: str, pages: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """From now on, every upload of this file (a path, `(name, bytes)` or the bytes
        themselves) to this project ends the pipeline in `status` (REVIEWING, COMPLETED, FAILED
        or FILTERED) and, when `pages` are given (page objects without ids), with exactly those
        pages (API.md §6). Only the bytes count, by their SHA-256: not the name. A later call
        for the same file replaces it. Answers `{"sha256", "status", "pages"}`. On a `manual`
        project the pages apply but the task does not move."""
        content = file if isinstance(file, bytes) else _read(file)[1]
        body: dict[str, Any] = {"sha256": hashlib.sha256(content).hexdigest(),
                                "status": str(status)}
        if pages is not None:
            body["pages"] = pages
        registered: dict[str, Any] = self._helper("POST", "/test_helpers/outcomes",
                                                  body)["payload"]
        return registered

    def connector(self, url: str, **fields: Any) -> dict[str, Any]:
        """Another connector of this project (API.md §11), made through the test helpers:
        `url`, and any of `name`, `method`, `headers`, `bearer`, `secret`, `events`,
        `oauth2` (`{"token_url", "client_id", "client_secret", "scope"?}`) or
        `token_exchange`. Answers the connector as listed (its secrets as `***`)."""
        made: dict[str, Any] = self._helper("POST", "/test_helpers/connectors",
                                            {"url": url, **fields})["payload"]
        return made

    # --- HTTP --------------------------------------------------------------------------------

    def _helper(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> dict[str, Any]:
        return self._call(method, path, None if body is None else json.dumps(body).encode(),
                          "application/json", key or self.key(*ROLES["helpers"]))

    def _call(
        self, method: str, path: str, data: bytes | None, content_type: str, key: str
    ) -> dict[str, Any]:
        url = self.api_url + path
        request = urllib.request.Request(url, method=method, data=data, headers={
            "Authorization": f"Bearer {key}", "Content-Type": content_type,
        })
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                answer: dict[str, Any] = json.load(response)
                return answer
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                error_body: Any = json.loads(raw)
            except ValueError:
                error_body = raw.decode(errors="replace")
            raise SendAIHelperError(method, url, exc.code, error_body) from None


def _read(file: File) -> tuple[str, bytes]:
    """A file to upload as (its name, its bytes)."""
    if isinstance(file, tuple):
        name, content = file
        return str(name), bytes(content)
    path = Path(file)
    return path.name, path.read_bytes()


def _meta_pair(pair: Any) -> dict[str, str]:
    if isinstance(pair, dict):
        return pair
    name, value = pair
    return {"name": name, "value": value}


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[str, bytes]:
    """multipart/form-data (RFC 7578) of (field, filename or None, content): the boundary and
    the body."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for field_name, filename, content in parts:
        disposition = f'form-data; name="{_quoted(field_name)}"'
        headers = f"Content-Disposition: {disposition}"
        if filename is not None:
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            headers += f'; filename="{_quoted(filename)}"\r\nContent-Type: {content_type}'
        chunks += [f"--{boundary}\r\n{headers}\r\n\r\n".encode(), content, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return boundary, b"".join(chunks)


def _quoted(text: str) -> str:
    """A name inside a quoted header parameter, as browsers write it."""
    return text.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _condition(status: StatusOrPredicate) -> tuple[Callable[[Task], bool], str]:
    """The test for a task, and how to say it in a failure."""
    if isinstance(status, str):
        return (lambda task: task["status"] == status), str(status)
    if callable(status):
        name = getattr(status, "__name__", repr(status))
        return status, f"such that {name}(task) is true"
    statuses = [str(s) for s in status]
    return (lambda task: task["status"] in statuses), "one of " + ", ".join(statuses)


def _summary(task: Task) -> str:
    """A task in one line: its status and flags, without its pages' contents."""
    fields = ("status", "approved", "exported_at", "export_failed_at", "last_opened_at")
    shown = ", ".join(f"{name} {json.dumps(task.get(name))}" for name in fields)
    return f"{shown}, {len(task.get('pages') or [])} pages"


# --- pytest ------------------------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("sendai_log_level", "log level of the sendai test server", default="WARNING")


@pytest.fixture(scope="session")
def sendai_app_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[SendAIServer]:
    """The application on a free port with a fresh, migrated SQLite file: one per session."""
    folder = tmp_path_factory.mktemp("sendai")
    server = SendAIServer(folder, log_level=pytestconfig.getini("sendai_log_level"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sendai(
    sendai_app_server: SendAIServer, request: pytest.FixtureRequest
) -> Iterator[SendAIProject]:
    """A fresh team and project of this test's own on the session's server (API.md §13), its
    pipeline `manual`. At the end, the jobs still waiting in this test's projects are dropped."""
    project = sendai_app_server.new_project(request.node.nodeid)
    try:
        yield project
    finally:
        sendai_app_server.drop_jobs(project.made)
