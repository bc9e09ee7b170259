"""The pytest plugin (sendai_server.testing, API.md §13), as an integrator's test suite uses it:
each test here runs a small suite of its own with pytester and reads its outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

import sendai_server.testing

pytest_plugins = ["pytester"]

# The plugin by module name, whether or not this environment also has its entry point: two
# registrations of one module would be refused. Imported already by this module, so pytest
# cannot rewrite its asserts (it has none to rewrite) and says so.
PLUGIN = ("-p", "no:sendai", "-p", "sendai_server.testing", "-p", "no:cacheprovider",
          "-W", "ignore::pytest.PytestAssertRewriteWarning")
STATUSES = ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"]

AUTH = """
import requests

def get(sendai, path, key=None):
    return requests.get(sendai.api_url + path,
                        headers={"Authorization": f"Bearer {key or sendai.key()}"}, timeout=10)
"""


def test_the_server_starts_once_for_every_test_of_every_module(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = []
    real_create_app = sendai_server.testing.create_app

    def counting_create_app(*args: object, **kwargs: object) -> object:
        apps.append(real_create_app(*args, **kwargs))  # type: ignore[arg-type]
        return apps[-1]

    monkeypatch.setattr(sendai_server.testing, "create_app", counting_create_app)
    record = """
from pathlib import Path

def test_one(sendai):
    Path("seen.txt").open("a").write(f"{sendai.base_url} {sendai.project_id}\\n")

def test_two(sendai):
    Path("seen.txt").open("a").write(f"{sendai.base_url} {sendai.project_id}\\n")
"""
    pytester.makepyfile(test_a=record, test_b=record)
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=4)

    seen = [line.split() for line in Path(pytester.path, "seen.txt").read_text().splitlines()]
    assert len(apps) == 1
    assert len({base_url for base_url, _ in seen}) == 1
    assert len({project_id for _, project_id in seen}) == 4


def test_two_tests_projects_do_not_see_each_others_tasks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=AUTH + f"""
import json
from pathlib import Path

STATUSES = {STATUSES!r}

def test_first_fills_its_project(sendai):
    ids = [sendai.task(status=status) for status in STATUSES]
    Path("first.json").write_text(json.dumps({{"api_url": sendai.api_url, "ids": ids}}))
    assert get(sendai, "/task").json()["count"] == len(STATUSES)

def test_second_sees_none_of_them(sendai):
    first = json.loads(Path("first.json").read_text())
    assert first["api_url"] != sendai.api_url
    assert get(sendai, "/task").json()["count"] == 0
    for task_id in first["ids"]:
        assert get(sendai, f"/task/{{task_id}}").status_code == 404

def test_a_second_project_in_one_test_is_apart_too(sendai):
    other = sendai.project()
    mine, theirs = sendai.task(), other.task()
    assert (other.team_id, other.project_id) != (sendai.team_id, sendai.project_id)
    assert [t["id"] for t in get(sendai, "/task").json()["payload"]] == [mine]
    assert [t["id"] for t in get(other, "/task").json()["payload"]] == [theirs]
    assert get(sendai, f"/task/{{theirs}}").status_code == 404
    assert get(other, f"/task/{{mine}}").status_code == 404
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_wait_for_returns_the_task_once_it_gets_there(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wait="""
import threading

def test_pipeline_moves_it_meanwhile(sendai):
    task_id = sendai.task(status="PROCESSING")
    threading.Timer(0.3, sendai.advance, (task_id, "to_review")).start()
    assert sendai.wait_for(task_id, "REVIEWING", timeout=5)["status"] == "REVIEWING"

def test_any_of_several_statuses_or_a_predicate(sendai):
    task_id = sendai.task(status="FAILED")
    assert sendai.wait_for(task_id, ["COMPLETED", "FAILED"])["status"] == "FAILED"
    assert sendai.wait_for(task_id, lambda task: not task["approved"])["id"] == task_id
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_wait_for_fails_with_a_clear_message_on_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_wait="""
def test_a_status(sendai):
    sendai.wait_for(sendai.task(status="PROCESSING"), "REVIEWING", timeout=0.3)

def test_any_of_several(sendai):
    sendai.wait_for(sendai.task(status="FAILED"), ["COMPLETED", "FILTERED"], timeout=0.2)

def test_a_predicate(sendai):
    def is_approved(task):
        return task["approved"]
    sendai.wait_for(sendai.task(), is_approved, timeout=0.2)
""")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(failed=3)
    last_seen = 'last seen after * polls: status "{}", approved false, exported_at null, *'
    result.stdout.fnmatch_lines([
        "E *WaitTimeout: waited 0.3 s for task task_* to be REVIEWING; "
        + last_seen.format("PROCESSING"),
        "E *WaitTimeout: waited 0.2 s for task task_* to be one of COMPLETED, FILTERED; "
        + last_seen.format("FAILED"),
        "E *WaitTimeout: waited 0.2 s for task task_* to be such that is_approved(task) is "
        "true; " + last_seen.format("REVIEWING"),
    ], consecutive=False)


def test_a_test_that_leaves_a_task_in_any_state_does_not_affect_the_next(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_leftovers=AUTH + f"""
import pytest, requests

STEPS = [(status, step) for status in {STATUSES!r} for step in ("leave", "fail", "check")]

@pytest.mark.parametrize("status, step", STEPS)
def test_step(sendai, status, step):
    if step != "check":
        task_id = sendai.task(status=status)
        if status == "COMPLETED":
            sendai.advance(task_id, "export")
        assert step == "leave", "fails on purpose, leaving a " + status + " task"
        return
    assert get(sendai, "/task").json()["count"] == 0
    task_id = sendai.task()
    discarded = requests.post(f"{{sendai.api_url}}/task/{{task_id}}/discard",
                              headers={{"Authorization": f"Bearer {{sendai.key()}}"}})
    assert discarded.json()["payload"]["status"] == "DISCARDED"
""")
    for _run in range(2):  # and the same suite again: nothing carries over between runs
        result = pytester.runpytest(*PLUGIN)
        result.assert_outcomes(passed=2 * len(STATUSES), failed=len(STATUSES))
        result.stdout.fnmatch_lines(["*fails on purpose, leaving a FILTERED task*"])


def test_keys_by_role_hold_their_scopes_and_helper_errors_name_the_refusal(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_keys=AUTH + """
import pytest, requests
from sendai_server.testing import SendAIHelperError

def discard(sendai, task_id, key):
    return requests.post(f"{sendai.api_url}/task/{task_id}/discard",
                         headers={"Authorization": f"Bearer {key}"})

def test_roles(sendai):
    assert discard(sendai, sendai.task(), sendai.keys["read"]).status_code == 403
    assert discard(sendai, sendai.task(), sendai.keys["edit"]).status_code == 200
    assert sendai.key("tasks.view") == sendai.key("task.read") == sendai.keys["read"]
    assert get(sendai, "/task", key=sendai.key("test_helpers")).status_code == 403

def test_a_refused_helper_request(sendai):
    with pytest.raises(SendAIHelperError, match=r"answered 400 \\(invalid_task_state: "):
        sendai.advance(sendai.task(status="REVIEWING"), "to_review")
    with pytest.raises(SendAIHelperError, match=r"answered 404 \\(not_found"):
        sendai.get_task("task_doesnotexist000")
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)
