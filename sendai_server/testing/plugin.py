"""The pytest plugin itself (entry point `pytest11`, name `sendai`): the ini option and the two
fixtures. What they hand out is in the modules beside it: the server harness (server.py), the
fixture's object (project.py), its HTTP client (client.py), the receiver (receiver.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import profiles

if TYPE_CHECKING:
    from ..domain.profiles import Profile
    from .project import SendAIProject
    from .server import SendAIServer
    from .states import SavedState


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("sendai_log_level", "log level of the sendai test server", default="WARNING")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", profiles.MARK_HELP)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    profiles.parametrize(metafunc)  # @pytest.mark.sendai_profiles: one run per profile


@pytest.fixture
def sendai_profile(request: pytest.FixtureRequest) -> Profile | None:
    """The fidelity profile of this run of a `sendai_profiles`-marked test, else None."""
    return profiles.requested(request)


@pytest.fixture(scope="session")
def sendai_app_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[SendAIServer]:
    """The application on a free port with a fresh, migrated SQLite file: one per session."""
    from .server import SendAIServer

    folder = tmp_path_factory.mktemp("sendai")
    server = SendAIServer(folder, log_level=pytestconfig.getini("sendai_log_level"))
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def sendai(
    sendai_app_server: SendAIServer, request: pytest.FixtureRequest,
    sendai_profile: Profile | None,
) -> Iterator[SendAIProject]:
    """A fresh team and project of this test's own on the session's server (docs/plugin.md), its
    pipeline `manual`, its team on `sendai_profile` when the test is marked `sendai_profiles`.
    At the end, the jobs still waiting in this test's projects are dropped."""
    project = sendai_app_server.new_project(request.node.nodeid)
    try:
        if sendai_profile is not None:
            project.use_profile(sendai_profile)
        yield project
    finally:
        sendai_app_server.drop_jobs(project.made)


@pytest.fixture(scope="session")
def sendai_state(
    sendai_app_server: SendAIServer,
) -> Callable[[str, Callable[[SendAIProject], Any]], SavedState]:
    """`sendai_state(name, build)`: a state built once by `build(project)` on a team of its
    own, saved; its `restore()` gives each test that asks for it the project as `build` left
    it, restored in place (docs/snapshots.md, sendai_server/testing/states.py)."""
    from .states import SavedState

    def saved(name: str, build: Callable[[SendAIProject], Any]) -> SavedState:
        return SavedState(sendai_app_server, name, build)

    return saved
