"""The plugin's snapshots (docs/snapshots.md): `sendai.snapshot()` and `sendai.restore()`, and a
state built once per session that each test starts from, restored, not rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.plugin import AUTH, PLUGIN

pytest_plugins = ["pytester"]


def test_snapshot_and_restore_inside_a_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_restore=AUTH + """
def test_restore(sendai):
    kept = sendai.task(status="REVIEWING")
    saved = sendai.snapshot("one task")
    assert saved["counts"]["tasks"] == 1
    later = sendai.task(status="COMPLETED")
    requests_key = sendai.key("task.read")
    sendai.restore(saved)
    ids = [t["id"] for t in get(sendai, "/task", requests_key).json()["payload"]]
    assert ids == [kept]
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


def test_a_session_state_is_built_once_and_each_test_starts_from_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_state=AUTH + """
from pathlib import Path
import pytest

@pytest.fixture(scope="session")
def six_tasks(sendai_state):
    def build(project):
        Path("built.txt").open("a").write("built\\n")
        for status in ("REVIEWING", "COMPLETED", "FAILED", "REVIEWING", "FILTERED", "FAILED"):
            project.task(status=status)
    return sendai_state("six tasks", build)

@pytest.fixture
def sendai_six(six_tasks):
    return six_tasks.restore()

@pytest.mark.parametrize("n", range(3))
def test_each_starts_from_six_and_changes_them(sendai_six, n):
    listed = get(sendai_six, "/task").json()
    assert listed["count"] == 6
    sendai_six.task(status="DISCARDED")
    assert get(sendai_six, "/task").json()["count"] == 7
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=3)
    assert Path(pytester.path, "built.txt").read_text() == "built\n"
