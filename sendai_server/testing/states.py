"""A state built once per session, and each test that asks for it started from a fresh copy
of it: restored in place, not built again (docs/snapshots.md).

    @pytest.fixture(scope="session")
    def two_hundred_tasks(sendai_state):
        def build(project):
            for n in range(200):
                project.task(status=STATUSES[n % len(STATUSES)])
        return sendai_state("two hundred tasks", build)

    def test_listing(two_hundred_tasks):
        sendai = two_hundred_tasks.restore()     # the state as `build` left it
        ...

The state lives in a team of its own on the session's server. Tests run one after another in
a session, so each restores it as it starts and changes it as it likes; the next one finds it
as `build` left it again. Its keys (`sendai.key(...)`) stay across restores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .project import SendAIProject
    from .server import SendAIServer


class SavedState:
    """A project's state, built by `build(project)` once and saved as a snapshot."""

    def __init__(self, server: SendAIServer, name: str,
                 build: Callable[[SendAIProject], Any]) -> None:
        self.name = name
        self.project = server.new_project(name)
        build(self.project)
        self.snapshot: dict[str, Any] = self.project.snapshot(name)

    def restore(self) -> SendAIProject:
        """The project, its team again exactly as `build` left it."""
        self.project.restore(self.snapshot)
        return self.project
