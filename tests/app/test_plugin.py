"""The pytest plugin (sendai_server.testing, docs/plugin.md), as an integrator's test suite uses
it: each test here runs a small suite of its own with pytester and reads its outcome."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import sendai_server.cli
import sendai_server.testing.server

# pytester's in-process runs drop from sys.modules whatever a run imported. The plugin imports
# the application only when a test first asks for `sendai`, so it is imported here, once, and
# every run uses this one copy (a second copy's schemas would meet the first's classes).
import sendai_server.web.api
import sendai_server.web.inspect
import sendai_server.web.logs
import sendai_server.web.ratelimit
from tests.support.plugin import AUTH, PLUGIN

pytest_plugins = ["pytester"]

STATUSES = ["PROCESSING", "REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED"]


def test_the_server_starts_once_for_every_test_of_every_module(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    apps = []
    real_create_app = sendai_server.testing.server.create_app

    def counting_create_app(*args: object, **kwargs: object) -> object:
        apps.append(real_create_app(*args, **kwargs))  # type: ignore[arg-type]
        return apps[-1]

    monkeypatch.setattr(sendai_server.testing.server, "create_app", counting_create_app)
    record = """
import threading
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
import threading
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


@pytest.mark.slow  # a pytester session of many tests through the pipeline: 6-8 s
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


# --- uploads and the pipeline -------------------------------------------------------------------

# The package's sample invoice, as an inner suite reads it: `Total: 1,234.56 EUR` among its
# lines; OTHER is the same invoice with another total (other bytes, another SHA-256).
DOCUMENTS = """
import hashlib
from importlib.resources import files

INVOICE = (files("sendai_server") / "samples/invoice.pdf").read_bytes()
OTHER = INVOICE.replace(b"(Total: 1,234.56 EUR)", b"(Total: 9,876.54 EUR)")
assert len(OTHER) == len(INVOICE) and OTHER != INVOICE

def totals(task):
    return [a["content"] for page in task["pages"] for a in page["annotations"]
            if a["entity_id"] == "total_amount"]
"""


def test_the_worker_takes_an_upload_to_review_with_its_total(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_pipeline=DOCUMENTS + """
import time
import threading
from pathlib import Path

import pytest
from sendai_server.testing import SendAIHelperError

def test_an_invoice_reaches_review_extracted(sendai, tmp_path):
    path = tmp_path / "invoice.pdf"
    path.write_bytes(INVOICE)
    project = sendai.project(pipeline="auto")
    started = time.monotonic()
    answer = project.upload(path, name="March", meta=[("order", "42")])
    assert (answer["status"], answer["name"], answer["projectId"]) == (
        "processing", "March", project.project_id)
    [task_id] = answer["taskIds"]
    task = project.wait_for(task_id, "REVIEWING", timeout=5)
    Path("elapsed.txt").write_text(f"{time.monotonic() - started:.3f}")
    assert (task["name"], task["upload_id"]) == ("invoice.pdf", answer["id"])
    assert task["meta"] == [{"name": "order", "value": "42"}]
    assert [(page["width"], page["height"]) for page in task["pages"]] == [(2480, 3508)]
    assert totals(task) == ["1,234.56 EUR"]

def test_several_files_as_bytes_auto_processed(sendai):
    project = sendai.project(pipeline="auto", automation="auto_process", threshold=0.5)
    answer = project.upload(("a.pdf", INVOICE), ("b.pdf", OTHER),
                            meta=[{"name": "batch", "value": "7"}])
    assert len(answer["taskIds"]) == 2
    for task_id in answer["taskIds"]:
        assert project.wait_for(task_id, "COMPLETED")["meta"] == [{"name": "batch", "value": "7"}]

def test_the_fixtures_manual_project_extracts_but_does_not_move(sendai):
    [task_id] = sendai.upload(("invoice.pdf", INVOICE))["taskIds"]
    def extracted(task):
        return bool(task["pages"])
    task = sendai.wait_for(task_id, extracted)
    assert (task["status"], totals(task)) == ("PROCESSING", ["1,234.56 EUR"])
    time.sleep(0.3)
    assert sendai.get_task(task_id)["status"] == "PROCESSING"

def test_a_refused_upload_names_the_refusal(sendai):
    with pytest.raises(SendAIHelperError, match=r"answered 400 \\(validation_error: "):
        sendai.upload(("notes.txt", b"not a document"))
    with pytest.raises(TypeError):
        sendai.upload()
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=4)
    elapsed = float(Path(pytester.path, "elapsed.txt").read_text())
    print(f"upload to REVIEWING in {elapsed:.3f} s")
    assert elapsed < 5


def test_two_tests_uploads_and_outcomes_stay_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=AUTH + DOCUMENTS + """
import json
import threading
from pathlib import Path

def test_first_uploads_with_an_outcome(sendai):
    project = sendai.project(pipeline="auto")
    project.outcome(INVOICE, "FAILED")
    answer = project.upload(("invoice.pdf", INVOICE))
    project.wait_for(answer["taskIds"][0], "FAILED")
    Path("first.json").write_text(json.dumps({"upload": answer["id"],
                                              "tasks": answer["taskIds"]}))

def test_second_sees_neither_its_upload_nor_its_outcome(sendai):
    first = json.loads(Path("first.json").read_text())
    project = sendai.project(pipeline="auto")
    reader = project.key("upload.read")
    assert get(project, "/upload", key=reader).json()["count"] == 0
    assert get(project, f"/upload/{first['upload']}", key=reader).status_code == 404
    assert get(project, f"/task/{first['tasks'][0]}").status_code == 404
    [task_id] = project.upload(("invoice.pdf", INVOICE))["taskIds"]
    assert totals(project.wait_for(task_id, "REVIEWING")) == ["1,234.56 EUR"]

def test_two_projects_of_one_test_are_apart_too(sendai):
    failing, plain = sendai.project(pipeline="auto"), sendai.project(pipeline="auto")
    failing.outcome(INVOICE, "FAILED")
    mine = failing.upload(("invoice.pdf", INVOICE))
    theirs = plain.upload(("invoice.pdf", INVOICE))
    failing.wait_for(mine["taskIds"][0], "FAILED")
    plain.wait_for(theirs["taskIds"][0], "REVIEWING")
    reader = plain.key("upload.read")
    assert [u["id"] for u in get(plain, "/upload", key=reader).json()["payload"]] == [
        theirs["id"]]
    assert get(plain, f"/upload/{mine['id']}", key=reader).status_code == 404
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_an_outcome_overrides_what_the_pipeline_makes_of_a_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_outcomes=DOCUMENTS + """
import pytest

PAGE = {"width": 100, "height": 200, "annotations": [
    {"entity_id": "total_amount", "confidence": 0.99, "content": "$5.00", "top": 1.0,
     "left_of_line": 2.0}]}

@pytest.mark.parametrize("status", ["REVIEWING", "COMPLETED", "FAILED", "FILTERED"])
@pytest.mark.parametrize("given", ["path", "bytes", "named bytes"])
def test_every_status_by_the_files_bytes_alone(sendai, tmp_path, status, given):
    project = sendai.project(pipeline="auto")
    path = tmp_path / "registered.pdf"
    path.write_bytes(INVOICE)
    file = {"path": path, "bytes": INVOICE, "named bytes": ("registered.pdf", INVOICE)}[given]
    registered = project.outcome(file, status)
    assert registered == {"sha256": hashlib.sha256(INVOICE).hexdigest(), "status": status,
                          "pages": None}
    [task_id] = project.upload(("another name.pdf", INVOICE))["taskIds"]
    assert project.wait_for(task_id, status)["name"] == "another name.pdf"

def test_exactly_its_pages_and_a_later_call_replaces_it(sendai):
    project = sendai.project(pipeline="auto")
    project.outcome(INVOICE, "FAILED")
    project.outcome(INVOICE, "COMPLETED", pages=[PAGE])
    [task_id] = project.upload(("invoice.pdf", INVOICE))["taskIds"]
    task = project.wait_for(task_id, "COMPLETED")
    [page] = task["pages"]
    assert (page["width"], page["height"], totals(task)) == (100, 200, ["$5.00"])

def test_other_bytes_go_through_the_extraction(sendai):
    project = sendai.project(pipeline="auto")
    project.outcome(INVOICE, "FAILED")
    [task_id] = project.upload(("other.pdf", OTHER))["taskIds"]
    assert totals(project.wait_for(task_id, "REVIEWING")) == ["9,876.54 EUR"]

def test_on_a_manual_project_its_pages_apply_and_the_task_stays(sendai):
    sendai.outcome(INVOICE, "COMPLETED", pages=[PAGE])
    [task_id] = sendai.upload(("invoice.pdf", INVOICE))["taskIds"]
    task = sendai.wait_for(task_id, lambda task: bool(task["pages"]))
    assert (task["status"], totals(task)) == ("PROCESSING", ["$5.00"])
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=15)


@pytest.mark.slow  # a pytester session of many tests through the pipeline: 6-8 s
def test_a_test_that_leaves_jobs_does_not_affect_the_next(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leftovers=AUTH + DOCUMENTS + """
import json, time
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sendai_server.store.models import Job

def waiting_jobs(sendai):
    with sendai.server.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(Job)
                           .where(Job.leased_until.is_(None)))

@pytest.mark.parametrize("step", ["leave", "check", "leave and fail", "check again"])
def test_step(sendai, step):
    if step.startswith("leave"):
        busy = sendai.project(pipeline="auto")
        busy.upload(*[(f"{n}.pdf", INVOICE) for n in range(30)])
        later = sendai.project(pipeline="auto", delay=2)
        [task_id] = later.upload(("late.pdf", INVOICE))["taskIds"]
        Path("left.json").write_text(json.dumps({
            "api_url": later.api_url, "key": later.key(), "task_id": task_id,
            "due": time.time() + 2}))
        assert waiting_jobs(sendai) > 0
        assert step == "leave", "fails on purpose, leaving 31 jobs"
        return
    assert waiting_jobs(sendai) == 0
    project = sendai.project(pipeline="auto")
    [task_id] = project.upload(("invoice.pdf", INVOICE))["taskIds"]
    started = time.monotonic()
    project.wait_for(task_id, "REVIEWING", timeout=5)
    with open("elapsed.txt", "a") as out:
        out.write(f"{time.monotonic() - started:.3f}\\n")
    left = json.loads(Path("left.json").read_text())
    time.sleep(max(0.0, left["due"] - time.time()) + 0.5)
    late = requests.get(f"{left['api_url']}/task/{left['task_id']}",
                        headers={"Authorization": f"Bearer {left['key']}"}, timeout=10)
    assert late.json()["payload"]["status"] == "PROCESSING"  # its job went with its test
""")
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*fails on purpose, leaving 31 jobs*"])
    elapsed = Path(pytester.path, "elapsed.txt").read_text().split()
    print("the next test's upload to REVIEWING in", ", ".join(elapsed), "s")


def test_the_sessions_worker_stops_with_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_worker="""
import threading

def test_it_runs(sendai):
    assert any(t.name == "sendai-pipeline" for t in threading.enumerate())
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
    assert [t.name for t in threading.enumerate()
            if t.name == "sendai-pipeline" or t.name.startswith("sendai-worker")] == []


def test_a_project_receives_its_uploads_notifications(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from importlib.resources import files

        def test_notified(sendai):
            project = sendai.project(pipeline="auto")
            invoice = (files("sendai_server") / "samples" / "invoice.pdf").read_bytes()
            created = project.upload(("invoice.pdf", invoice))
            [in_review] = project.wait_for_notifications(1, "UPLOAD_IN_REVIEW", timeout=30)
            assert in_review["upload"]["id"] == created["id"]
            assert in_review["project_id"] == project.project_id
            assert sendai.notifications == []  # another project's, not this one's
        """
    )
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
