"""The plugin's `sendai.fault(...)` (docs/plugin.md, docs/failures.md), as an integrator's suite
uses it: each test here runs a small suite of its own with pytester and reads its outcome."""

from __future__ import annotations

import pytest

from tests.support.plugin import PLUGIN

pytest_plugins = ["pytester"]

COMMON = """
import pytest
import requests

def discard(sendai, task_id):
    return requests.post(f"{sendai.api_url}/task/{task_id}/discard",
                         headers={"Authorization": f"Bearer {sendai.key()}"}, timeout=10)

def faults_of(sendai):
    return requests.get(f"{sendai.base_url}/v2/{sendai.team_id}/test_helpers/faults",
                        headers={"Authorization": f"Bearer {sendai.keys['helpers']}"},
                        timeout=10).json()["payload"]
"""


def test_a_fault_holds_inside_its_block_only(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMMON + """
def test_two_503s_then_the_discard(sendai):
    task_id = sendai.task()
    with sendai.fault("discardTask", status=503, retry_after=1, times=2) as fault:
        first, second, third = (discard(sendai, task_id) for _ in range(3))
        assert [first.status_code, second.status_code] == [503, 503]
        assert first.headers["X-Sendai-Fault"] == fault["id"]
        assert first.headers["Retry-After"] == "1"
        assert third.status_code == 200
        assert faults_of(sendai)[0]["hits"] == 2
    assert faults_of(sendai) == []

def test_the_fault_is_gone_outside_the_block(sendai):
    task_id = sendai.task()
    with sendai.fault("discardTask", status=500, times=None):
        assert discard(sendai, task_id).status_code == 500
    assert discard(sendai, task_id).status_code == 200
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_the_fault_is_deleted_when_the_test_fails_inside_the_block(
    pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(COMMON + """
LEFT = {}

def test_fails_inside(sendai):
    LEFT["sendai"] = sendai
    with sendai.fault("getTask", status=503, times=None):
        assert 1 == 2, "the test under the fault fails"

def test_raises_inside(sendai):
    with pytest.raises(RuntimeError):
        with sendai.fault("getTask", status=503, times=None):
            raise RuntimeError("boom")
    assert faults_of(sendai) == []

def test_after_them(sendai):
    assert faults_of(LEFT["sendai"]) == []
""")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*the test under the fault fails*"])


def test_drop_and_delay_under_the_plugins_server(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMMON + """
import time

def test_drop_before_and_after(sendai):
    kept, changed = sendai.task(), sendai.task()
    with sendai.fault("discardTask", drop=True, task_id=kept):
        with pytest.raises(requests.ConnectionError):
            discard(sendai, kept)
    assert sendai.get_task(kept)["status"] == "REVIEWING"
    with sendai.fault("discardTask", drop=True, after=True, task_id=changed):
        with pytest.raises(requests.ConnectionError):
            discard(sendai, changed)
    assert sendai.get_task(changed)["status"] == "DISCARDED"

def test_delay(sendai):
    task_id = sendai.task()
    with sendai.fault("getTask", delay_ms=300):
        started = time.monotonic()
        assert sendai.get_task(task_id)["id"] == task_id
        assert time.monotonic() - started >= 0.3
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_a_duplicate_delivery_and_refused_rules(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(COMMON + """
from sendai_server.testing import SendAIHelperError

def test_twice(sendai):
    project = sendai.project(pipeline="auto")
    scan = ("scan.pdf", b"%PDF-1.4 a scan")
    project.outcome(scan, "REVIEWING")
    with project.fault(event="upload.in_review", duplicate=2):
        project.upload(scan)
        first, second = project.wait_for_notifications(2, event="UPLOAD_IN_REVIEW",
                                                           timeout=30)
    assert first["id"] == second["id"]

def test_refused(sendai):
    with pytest.raises(SendAIHelperError) as refused:
        with sendai.fault("discard_task", status=503):
            pass
    assert refused.value.status == 400
    assert "discardTask" in refused.value.body["error"]["details"]["known_operations"]
    with pytest.raises(TypeError):
        with sendai.fault("discardTask", statuss=503):
            pass
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)
