"""What a new user met with the pytest plugin (issue 31, items 2, 3, 4 and 6), each as an
integrator's suite meets it: a small suite of its own run with pytester.

- A delivery fault after `project.connector(url)` is for that connector: the test's own
  receiver sees it every time, never the plugin's hidden receiver.
- A refused helper request's SendAIHelperError carries its details (the known operations, the
  fields at fault) in its message.
- `sendai.sample("invoice.pdf")` is a packaged document `upload()` takes.
- A fault handle's `hits` and `remaining` are the server's figures when read.
"""

from __future__ import annotations

import pytest

from tests.support.plugin import PLUGIN

pytest_plugins = ["pytester"]


@pytest.mark.slow  # 100 uploads through the pipeline: about 45 s on a shared machine
def test_a_delivery_fault_after_a_connector_of_the_tests_own_hits_its_receiver_every_time(
    pytester: pytest.Pytester
) -> None:
    """100 runs of 100. Before, the fault went to whichever delivery went first: the test's
    receiver or the hidden one (2 runs of 4 missed)."""
    pytester.makepyfile("""
import time
from sendai_server.testing.receiver import NotificationReceiver

RUNS = 100

def test_every_run(sendai):
    mine = NotificationReceiver()
    deadline = time.monotonic() + 300  # the whole loop's; a run takes a fraction of a second
    try:
        for run in range(RUNS):
            project = sendai.project(pipeline="auto")
            project.connector(mine.url_for(project.project_id), events=["upload.in_review"])
            scan = ("scan.pdf", b"%PDF-1.4 run " + str(run).encode())
            project.outcome(scan, "REVIEWING")
            with project.fault(event="upload.in_review", duplicate=2):
                project.upload(scan)
                # Three deliveries in all, whoever takes the fault: wait for them, then judge.
                while True:
                    got = mine.notifications_of(project.project_id)
                    hidden = project.notifications
                    if len(got) + len(hidden) >= 3:
                        break
                    assert time.monotonic() < deadline, (run, got, hidden)
                    time.sleep(0.005)
            assert len(got) == 2 and got[0]["id"] == got[1]["id"], (run, got)
            assert [n["event"] for n in hidden] == ["UPLOAD_IN_REVIEW"], (run, hidden)
    finally:
        mine.close()

def test_several_connectors_of_the_tests_own_must_be_named(sendai):
    first = sendai.connector("http://127.0.0.1:9/a")
    second = sendai.connector("http://127.0.0.1:9/b")
    try:
        with sendai.fault(event="upload.in_review", duplicate=2):
            raise AssertionError("made")
    except TypeError as refused:
        assert first["id"] in str(refused) and second["id"] in str(refused)
    with sendai.fault(event="upload.in_review", duplicate=2,
                      connector_id=second["id"]) as made:
        assert made["match"]["connector_id"] == second["id"]

def test_without_one_the_hidden_receiver_takes_it(sendai):
    with sendai.fault(event="upload.in_review", duplicate=2) as made:
        assert "connector_id" not in made["match"]
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=3)


def test_a_helper_errors_message_carries_its_details(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest
from sendai_server.testing import SendAIHelperError

def test_an_unknown_operation_lists_the_known_ones(sendai):
    with pytest.raises(SendAIHelperError) as refused:
        with sendai.fault("discardTsk", status=503):
            pass
    said = str(refused.value)
    assert "did you mean 'discardTask'?" in said
    assert "match.operation: Not an operationId" in said
    known = refused.value.body["error"]["details"]["known_operations"]
    assert "known operations: " + ", ".join(known) in said

def test_the_fields_at_fault_are_named_with_their_problems(sendai):
    with pytest.raises(SendAIHelperError) as refused:
        sendai.task(status="DONE", pages=[{"width": "wide"}])
    said = str(refused.value)
    assert "status: Must be one of" in said
    assert "pages.0.width: Not a valid" in said
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_the_packaged_samples_are_offered_to_upload(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest
from sendai_server.testing import sample_names

def test_the_readme_example(sendai):
    project = sendai.project(pipeline="auto")
    [task_id] = project.upload(sendai.sample("invoice.pdf"))["taskIds"]
    task = project.wait_for(task_id, "REVIEWING", timeout=10)
    assert task["name"] == "invoice.pdf"
    assert task["pages"] and task["pages"][0]["annotations"]

def test_an_unknown_sample_names_those_there_are(sendai):
    assert "invoice.pdf" in sample_names()
    with pytest.raises(FileNotFoundError, match="invoice.pdf"):
        sendai.sample("invoices.pdf")
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_a_fault_handle_reads_the_live_figures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import requests

def get(sendai, task_id):
    return requests.get(f"{sendai.api_url}/task/{task_id}",
                        headers={"Authorization": f"Bearer {sendai.key()}"}, timeout=10)

def test_hits_and_remaining_as_they_are(sendai):
    task_id = sendai.task()
    with sendai.fault("getTask", status=503, times=3) as made:
        assert (made.hits, made.remaining) == (0, 3)
        assert get(sendai, task_id).status_code == 503
        assert (made.hits, made.remaining) == (1, 2)
        assert get(sendai, task_id).status_code == 503
        assert (made["hits"], made["remaining"]) == (2, 1)
    assert get(sendai, task_id).status_code == 200
    assert (made.hits, made.remaining) == (2, 1)  # as it was when the block deleted it
    assert made.id.startswith("flt_") and made["effect"] == {"status": 503}

def test_until_deleted(sendai):
    task_id = sendai.task()
    with sendai.fault("getTask", status=500, times=None) as made:
        for _ in range(4):
            get(sendai, task_id)
        assert (made.hits, made.remaining) == (4, None)
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)
