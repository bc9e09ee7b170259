"""The pytest plugin for teams that integrate with Send AI (docs/plugin.md).

Installing sendai-server with its `pytest` extra registers the plugin with pytest (entry point
`pytest11`, name `sendai`: sendai_server.testing.plugin). A test asks for the `sendai` fixture
and points its client at `sendai.base_url`:

    def test_discard(sendai):
        task_id = sendai.task(status="REVIEWING")
        client = MyClient(sendai.base_url, sendai.key("task.read", "task.edit"))
        client.discard(sendai.team_id, sendai.project_id, task_id)
        assert sendai.get_task(task_id)["status"] == "DISCARDED"

    def test_upload(sendai):
        project = sendai.project(pipeline="auto")       # the pipeline moves its tasks
        project.clock.freeze()                           # ... when the test moves the clock
        [task_id] = project.upload(sendai.sample("invoice.pdf"))["taskIds"]
        project.clock.advance(seconds=2)                 # extracted, annotated, notified
        assert project.get_task(task_id)["status"] == "REVIEWING"
        assert project.notifications[-1]["event"] == "UPLOAD_IN_REVIEW"

`sendai.sample(name)` is a document packaged with sendai-server, as a path `upload()` takes
(`sample_names()` lists them; `invoice.pdf` is a one-page invoice with a total, a date and an
IBAN). `upload()` also takes a path of the test's own, or `(name, bytes)`.

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

The fixture's own project has the `manual` pipeline (docs/project-settings.md), so tasks made with
`task()` stay where they are put and only the test helpers move them. `upload()` to it stores the
files and the worker still extracts them (pages and annotations appear), but their tasks stay
PROCESSING. A test of the whole flow asks for `sendai.project(pipeline="auto")`, whose uploads
the worker moves to REVIEWING or COMPLETED by the project's `automation`, or to whatever
`outcome()` registered for the file.

Tasks are made and moved through the test helpers over HTTP (docs/api/test-helpers.md), as a client
would: the same validation, state machine and audit trail as every other change. Every project has a
connector to the session's own receiver for its uploads' notifications (`upload.in_review`,
`upload.processed`; not `task.export`, whose export would make COMPLETED tasks refuse unlock):
`notifications` is what it got for the project, `wait_for_notifications` waits for them.
A test's own receiver gets a connector with `project.connector(url)`; a delivery fault made
after it (`project.fault(event="upload.in_review", duplicate=2)`) is for that connector, not
the hidden one, so the test's receiver is the one that sees it, every time.

`with sendai.fault(...) as made:` answers a handle whose `made.hits` and `made.remaining` are
read from the server when asked. A refused helper request raises SendAIHelperError, whose
message carries what the refusal's `details` say (the fields at fault, the known operations).

`sendai.clock` (clock.py, docs/clock.md) is the team's clock: frozen, nothing of the team
happens by itself, and `advance(...)` answers once what fell due has run (the pipeline's
steps, the deliveries to the receiver and their retries), so a test asserts at once instead
of waiting with `wait_for` or `wait_for_notifications`.

The ini option `sendai_log_level` (default WARNING) sets the server's log level; its JSON log
lines go to standard error, so pytest shows them with a failing test (INFO adds one line per
request).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import SendAIHelperError
    from .faults import FaultHandle
    from .project import SendAIProject, WaitTimeout
    from .receiver_check import assert_receiver_safe
    from .samples import sample, sample_names
    from .server import SendAIServer

__all__ = ["FaultHandle", "SendAIHelperError", "SendAIProject", "SendAIServer", "WaitTimeout",
           "assert_receiver_safe", "sample", "sample_names"]

# Where each name lives. Imported when first asked for (PEP 562), not with the package: the
# plugin module below it is loaded by every pytest run, most of which never start the server.
_HOMES = {"SendAIHelperError": ".client", "SendAIProject": ".project",
          "SendAIServer": ".server", "WaitTimeout": ".project", "FaultHandle": ".faults",
          "assert_receiver_safe": ".receiver_check", "sample": ".samples",
          "sample_names": ".samples"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)
