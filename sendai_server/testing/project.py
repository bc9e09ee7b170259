"""The `sendai` fixture's object (docs/plugin.md): one team's project on the session's test server,
with keys for it and helpers that put its tasks in any state, upload, and wait.

To add a helper (say `fault()`, docs/failures.md), add a method here: `self._call` reaches a path
under the project (`/v2/{team}/project/{project}...`), `self._team_call` one under the team
(`/v2/{team}...`), both with the helpers' key unless given another, and answer the JSON
document or raise SendAIHelperError.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ..domain.lifecycle import TaskStatus
from ..pipeline.receiver_check import (
    ActedOn,
    ReceiverReport,
    Target,
    check_receiver,
    newest_notification,
    sample_notification,
)
from ..services.demo import EDIT_SCOPES, HELPER_SCOPES
from ..services.keys import canonical_scope, create_key
from ..services.projects import ProjectSettings
from ..store.models import Project
from ..store.uow import UnitOfWork
from . import faults
from .client import File, read_file
from .clock import Clock
from .samples import sample

if TYPE_CHECKING:
    from .server import SendAIServer

# Keys by role, as `sendai-server seed` names them (docs/cli.md).
ROLES: dict[str, tuple[str, ...]] = {
    "edit": tuple(EDIT_SCOPES),
    "read": ("task.read",),
    "helpers": tuple(HELPER_SCOPES),
}

Task = dict[str, Any]
"""A public task object (docs/api/tasks.md), as the API answers it."""

StatusOrPredicate = str | Iterable[str] | Callable[[Task], bool]

# Seconds a restore, an export or an import may take (a state of thousands of tasks is
# seconds of work on a busy machine; every other call has the client's HTTP_TIMEOUT).
STATE_TIMEOUT = 300.0


class WaitTimeout(AssertionError):
    """`wait_for` ran out of time: the message says what it waited for and what it last saw."""


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
    # The connector to the session's receiver (`notifications`): not the test's own.
    receiver_connector_id: str | None = field(default=None, repr=False)
    # The path of the session's receiver that connector sends to (None: the project's id).
    mailbox: str | None = field(default=None, repr=False)
    _keys: dict[frozenset[str], str] = field(default_factory=dict, repr=False)

    @property
    def base_url(self) -> str:
        """Where a client points instead of https://api.send.ai (no trailing slash)."""
        return self.server.base_url

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """What the session's receiver got for this project so far, oldest first: Send AI's
        notification payloads (docs/notifications.md: `event` UPLOAD_IN_REVIEW or UPLOAD_PROCESSED,
        `upload`, ...). Deliveries are asynchronous: wait for them with
        `wait_for_notifications`."""
        return self.server.notifications_of(self.mailbox or self.project_id)

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
        """The project's base path (docs/api/index.md):
        `{base_url}/v2/{team_id}/project/{project_id}`."""
        return f"{self.base_url}/v2/{self.team_id}/project/{self.project_id}"

    # --- keys ------------------------------------------------------------------------------------

    def key(self, *scopes: str) -> str:
        """A plain API key of this project's team, added to this project, holding `scopes`
        (docs/api/index.md; Send AI's aliases such as `tasks.view` are accepted). No scopes:
        task.read
        and task.edit. The same scopes give the same key within a test."""
        wanted = frozenset(canonical_scope(scope) for scope in scopes or ROLES["edit"])
        if wanted not in self._keys:
            with UnitOfWork(self.server.engine) as uow:
                created = create_key(uow, self.team_id, sorted(wanted), [self.project_id],
                                     "pytest " + " ".join(sorted(wanted)))
            self._keys[wanted] = created.key
        return self._keys[wanted]

    def keep_key(self, scopes: Iterable[str], key: str) -> None:
        """`key` (made for this project elsewhere) is what `key(*scopes)` answers from now on."""
        self._keys[frozenset(canonical_scope(scope) for scope in scopes)] = key

    @property
    def keys(self) -> dict[str, str]:
        """Keys by role, as `sendai-server seed` names them: `edit` (task.read, task.edit),
        `read` (task.read), `helpers` (test_helpers, task.read, task.edit)."""
        return {role: self.key(*scopes) for role, scopes in ROLES.items()}

    # --- tasks -----------------------------------------------------------------------------------

    def task(
        self,
        status: str = TaskStatus.REVIEWING,
        pages: list[dict[str, Any]] | None = None,
        meta: list[dict[str, str]] | None = None,
        name: str | None = None,
    ) -> str:
        """Create a task in `status` and return its id (the test helpers, docs/api/test-helpers.md).
        `pages` are page objects without ids (`width`, `height`, `annotations`, `checkboxes`,
        `segments`, `signatures`), `meta` a list of `{"name", "value"}`."""
        body: dict[str, Any] = {"status": str(status), "pages": pages or [], "meta": meta or []}
        if name is not None:
            body["name"] = name
        created = self._call("POST", "/test_helpers/task", body)
        task_id: str = created["payload"]["id"]
        return task_id

    def advance(self, task_id: str, event: str) -> Task:
        """Fire a pipeline event on the task (`to_review`, `auto_complete`, `fail`, `filter`,
        `retry`, `export`, `export_fail`) and return the task as it now is. An event its state
        forbids raises SendAIHelperError (400 invalid_task_state)."""
        answer = self._call("POST", f"/test_helpers/task/{task_id}/advance", {"event": event})
        task: Task = answer["payload"]
        return task

    def get_task(self, task_id: str) -> Task:
        """The task as `GET .../task/{task_id}` answers it (its `payload`)."""
        answer = self._call("GET", f"/task/{task_id}", key=self.key("task.read"))
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
        """Another fresh team and project on the same server, with these settings
        (docs/project-settings.md): for a test that needs two (isolation: neither's keys see the
        other's tasks or uploads), or uploads that the pipeline moves (`pipeline="auto"`).
        `automation` is `none`, `auto_predict` or `auto_process` (COMPLETED when every annotation's
        confidence is at least `threshold`); `delay` is the seconds each pipeline step takes (None:
        the
        session's 0). The defaults are the fixture's own project's: `manual`."""
        settings = ProjectSettings(automation=automation, threshold=threshold,
                                   pipeline=pipeline, delay=delay)
        return self.server.new_project(self.name, settings, self.made)

    def fault(self, operation: str | None = None,
              **rule: Any) -> AbstractContextManager[faults.FaultHandle]:
        """`with sendai.fault("discardTask", status=503, times=2) as made:` this team's
        matching requests fail so inside the block (docs/failures.md); the fault is deleted on
        leaving it, whatever happened inside. Fields, flat: `status`, `retry_after`, `body`,
        `after`, `delay_ms`, `drop`, `duplicate`; `method`, `path`, `project_id`, `task_id`,
        `event`, `connector_id`; `times`, `probability`, `seed` (testing/faults.py). `made` is
        the fault: `made.id`, and `made.hits` and `made.remaining` read from the server when
        asked (after the block: as they were when it was deleted).

        A delivery fault (`event=...`) without `connector_id` is for the test's own connector
        (`connector()`) when the project has one: not for the hidden connector to the plugin's
        receiver, whose delivery might otherwise go first and take the fault. With several of
        the test's own connectors, name one with `connector_id`; with none, the receiver's
        deliveries (`notifications`) take it."""
        if "event" in rule and "connector_id" not in rule:
            own = self._own_connector_ids()
            if len(own) > 1:
                raise TypeError(f"this project has {len(own)} connectors of the test's own "
                                f"({', '.join(own)}): say which with connector_id=")
            if own:
                rule = {**rule, "connector_id": own[0]}
        return faults.fault(self._team_call, operation, **rule)

    def _own_connector_ids(self) -> list[str]:
        """The project's connectors but the one to the plugin's receiver, oldest first."""
        listed = self._call("GET", "/test_helpers/connectors")["payload"]
        return [c["id"] for c in listed if c["id"] != self.receiver_connector_id]

    def sample(self, name: str = "invoice.pdf") -> Path:
        """A sample document packaged with sendai-server (`invoice.pdf`: a one-page invoice
        with a total, a date and an IBAN), as a path `upload()` and `outcome()` take:
        `project.upload(sendai.sample("invoice.pdf"))`. An unknown name raises
        FileNotFoundError naming the samples there are."""
        return sample(name)

    @property
    def clock(self) -> Clock:
        """The team's clock (docs/clock.md): `freeze(at=None)`, `advance(seconds=0, minutes=0,
        hours=0, days=0)` → what ran, `now`, `resume()`. While it stands, nothing of the team
        happens by itself: an upload stays PROCESSING and a failed delivery waits for its
        retry until `advance` moves the clock past them, and answers once they have run."""
        return Clock(self._team_call)

    # --- uploads ---------------------------------------------------------------------------------

    def upload(self, *files: File, **fields: Any) -> dict[str, Any]:
        """Upload `files` (each a path, or `(name, bytes)`) in one request, as a client would
        (multipart to `.../upload`, docs/api/uploads.md), and return Send AI's create answer: `id`,
        `status`, `taskIds` (one task per file, in order), ... Fields: `name` (the upload's
        name), `meta` (a list of `(name, value)` pairs or `{"name", "value"}` objects, sent as
        JSON text), and any other form field as text (`projectId=...`). A refusal (a type the
        pipeline cannot read, a bad `meta`) raises SendAIHelperError.

        An email (`.eml`, docs/api/uploads.md) is one file that becomes several tasks: its body's,
        then one per attachment of an accepted type (`taskIds` lists them all, body first).

        Each file's task is PROCESSING at first. On a project with `pipeline="auto"` the
        worker extracts it and moves it on at once (`wait_for`); on a `manual` one, such as
        the fixture's own, it is extracted but stays PROCESSING."""
        if not files:
            raise TypeError("upload() needs at least one file")
        uploaded = [("file", read_file(file)) for file in files]
        data = {name: json.dumps([_meta_pair(pair) for pair in value])
                if name == "meta" and not isinstance(value, str) else str(value)
                for name, value in fields.items()}
        return self._call("POST", "/upload", files=uploaded, data=data)

    def outcome(
        self, file: File | bytes, status: str, pages: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """From now on, every upload of this file (a path, `(name, bytes)` or the bytes
        themselves) to this project ends the pipeline in `status` (REVIEWING, COMPLETED, FAILED
        or FILTERED) and, when `pages` are given (page objects without ids), with exactly those
        pages (docs/api/test-helpers.md). Only the bytes count, by their SHA-256: not the name.
        A later call for the same file replaces it. Answers `{"sha256", "status", "pages"}`. On a
        `manual` project the pages apply but the task does not move."""
        content = file if isinstance(file, bytes) else read_file(file)[1]
        body: dict[str, Any] = {"sha256": hashlib.sha256(content).hexdigest(),
                                "status": str(status)}
        if pages is not None:
            body["pages"] = pages
        registered: dict[str, Any] = self._call("POST", "/test_helpers/outcomes",
                                                body)["payload"]
        return registered

    # --- connectors ------------------------------------------------------------------------------

    def connector(self, url: str, **fields: Any) -> dict[str, Any]:
        """Another connector of this project (docs/notifications.md), made through the test helpers:
        `url`, and any of `name`, `method`, `headers`, `bearer`, `secret`, `events`,
        `oauth2` (`{"token_url", "client_id", "client_secret", "scope"?}`) or
        `token_exchange`. Answers the connector as listed (its secrets as `***`)."""
        made: dict[str, Any] = self._call("POST", "/test_helpers/connectors",
                                          {"url": url, **fields})["payload"]
        return made

    def check_receiver(self, url: str, secret: str, *, acted_on: ActedOn | None = None,
                       timeout: float = 10.0) -> ReceiverReport:
        """Check a webhook receiver (docs/receiver-check.md): forged, stale, replayed and
        malformed deliveries, built from this project's newest notification (a sample when it
        has none), signed with `secret` as deliveries are, sent once each to `url` only.
        `acted_on(event_id)`, when given, says how many times the receiver acted on an event:
        it makes "acted on once" part of the replay's verdict. `assert_receiver_safe(report)`
        fails a test naming each failing case."""
        with UnitOfWork(self.server.engine) as uow:
            payload = newest_notification(uow, self.team_id, self.project_id)
        source = "real" if payload is not None else "sample"
        if payload is None:
            payload = sample_notification(self.team_id, self.project_id)
        return check_receiver(Target(url, secret), payload, source=source, timeout=timeout,
                              acted_on=acted_on)

    # --- snapshots (docs/snapshots.md) -----------------------------------------------------------

    def snapshot(self, name: str | None = None) -> dict[str, Any]:
        """Save this team's whole state: its projects, uploads, tasks, connectors,
        notifications, pending jobs, faults. Answers the snapshot (`id`, `name`, `counts`,
        ...), for `restore`."""
        made: dict[str, Any] = self._team_call(
            "POST", "/test_helpers/snapshots", {"name": name} if name else {})["payload"]
        return made

    def restore(self, snapshot: dict[str, Any] | str) -> dict[str, Any]:
        """This team again exactly as the snapshot (or its id) saw it: what was made after is
        gone, its pending jobs are pending again; keys stay. What the receiver got for this
        project is forgotten."""
        snapshot_id = snapshot if isinstance(snapshot, str) else snapshot["id"]
        restored: dict[str, Any] = json.loads(self.server.client.call_bytes(
            "POST", f"{self.team_url}/test_helpers/snapshots/{snapshot_id}/restore",
            self.key(*ROLES["helpers"]), timeout=STATE_TIMEOUT))["payload"]
        self.server.receiver.forget(self.mailbox or self.project_id)
        return restored

    def export(self, snapshot: dict[str, Any] | str) -> bytes:
        """The snapshot (or its id) as one file (`application/vnd.sendai.snapshot`): write it
        beside a bug report; `import_state` on another machine gives its team the same state."""
        snapshot_id = snapshot if isinstance(snapshot, str) else snapshot["id"]
        return self.server.client.call_bytes(
            "GET", f"{self.team_url}/test_helpers/snapshots/{snapshot_id}/export",
            self.key(*ROLES["helpers"]), timeout=STATE_TIMEOUT)

    def import_state(self, data: bytes, restore: bool = True) -> dict[str, Any]:
        """A snapshot of this team made from an exported file (an older sendai-server's too),
        restored at once unless `restore=False`. Answers the snapshot."""
        made: dict[str, Any] = json.loads(self.server.client.call_bytes(
            "POST", f"{self.team_url}/test_helpers/snapshots/import",
            self.key(*ROLES["helpers"]), content=data,
            content_type="application/vnd.sendai.snapshot", timeout=STATE_TIMEOUT))["payload"]
        if restore:
            self.restore(made)
            self._adopt_project()
        return made

    def _adopt_project(self) -> None:
        """After an import, this object stands for the team's first project (the file's)."""
        with UnitOfWork(self.server.engine) as uow, uow.read() as conn:
            first = conn.scalar(select(Project.id).where(Project.team_id == self.team_id)
                                .order_by(Project.created_at, Project.id))
        if first is not None:
            self.project_id = first

    # --- HTTP ------------------------------------------------------------------------------------

    @property
    def team_url(self) -> str:
        """The team's base path: `{base_url}/v2/{team_id}`."""
        return f"{self.base_url}/v2/{self.team_id}"

    @property
    def profile(self) -> dict[str, str]:
        """The team's fidelity profile (docs/profiles.md): every switch and its choice."""
        return self._team_call("GET", "/test_helpers/profile")["payload"]

    def use_profile(self, settings: Mapping[str, str]) -> dict[str, str]:
        """Put the team on the server's default profile with `settings`' switches changed."""
        return self._team_call(
            "PUT", "/test_helpers/profile", dict(settings))["payload"]

    def _call(self, method: str, path: str, body: Any = None, key: str | None = None,
              **form: Any) -> dict[str, Any]:
        """A request to `path` under the project's base path (`api_url`)."""
        return self._team_call(method, f"/project/{self.project_id}{path}", body, key, **form)

    def _team_call(self, method: str, path: str, body: Any = None, key: str | None = None,
                   **form: Any) -> dict[str, Any]:
        """A request to `path` under the team's base path (`team_url`): `body` as JSON, or
        `files=` and `data=` as multipart; the helpers' key unless `key` is given."""
        return self.server.client.call(method, self.team_url + path,
                                       key or self.key(*ROLES["helpers"]), json=body, **form)


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


def _meta_pair(pair: Any) -> dict[str, str]:
    if isinstance(pair, dict):
        return pair
    name, value = pair
    return {"name": name, "value": value}
