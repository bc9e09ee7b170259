"""docs/snapshots.md, "Fixtures that last": a state built once per session that every test
starts from (restored, not rebuilt), and a bug's state carried to another machine as a file."""

from __future__ import annotations

import pytest
from invoice_client import SendAI

from sendai_server.testing import SendAIServer

STATUSES = ("REVIEWING", "COMPLETED", "FAILED", "DISCARDED", "FILTERED")
INVOICE_PAGE = {
    "width": 2480, "height": 3508,
    "annotations": [{"entity_id": "total_amount", "confidence": 0.98, "content": "$1,234.56",
                     "top": 120.5, "left_of_line": 340.0}],
}


# 1. Forty tasks in every status, built once for the whole session.
@pytest.fixture(scope="session")
def forty_tasks(sendai_state):
    def build(project):
        for n in range(40):
            project.task(status=STATUSES[n % len(STATUSES)], name=f"Invoice {n}",
                         pages=[INVOICE_PAGE])
    return sendai_state("forty tasks", build)


@pytest.fixture
def sendai_forty(forty_tasks):
    """The project as `build` left it, whatever the test before did to it."""
    return forty_tasks.restore()


@pytest.fixture
def client(sendai_forty) -> SendAI:
    return SendAI(sendai_forty.key("task.read", "task.edit"), sendai_forty.team_id,
                  sendai_forty.project_id, base_url=sendai_forty.base_url)


def reviewing(sendai) -> list[str]:
    tasks = sendai.server.client.call(
        "GET", f"{sendai.api_url}/task?status=REVIEWING&limit=100", sendai.key())
    return [task["id"] for task in tasks["payload"]]


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_starts_from_the_same_forty(sendai_forty, client, run):
    waiting = reviewing(sendai_forty)
    assert len(waiting) == 8  # the same eight each time: the other run's discards are undone
    for task_id in waiting:
        client.discard_task(task_id)
    assert reviewing(sendai_forty) == []


# 2. A bug seen here, carried as a file to another machine (here: a second server of its own,
#    with its own database, as a colleague's would be) and looked at there.
def test_a_bugs_state_travels_as_a_file(sendai, tmp_path):
    odd = sendai.task(status="REVIEWING", name="The invoice that breaks", pages=[INVOICE_PAGE])
    snapshot = sendai.snapshot("bug 1234")
    bug_file = tmp_path / "bug-1234.sendai-snapshot"
    bug_file.write_bytes(sendai.export(snapshot))

    elsewhere = SendAIServer(tmp_path / "colleague")
    try:
        theirs = elsewhere.new_project("colleague")
        theirs.import_state(bug_file.read_bytes())  # now the bug's project, ids and all
        assert theirs.project_id == sendai.project_id
        there = SendAI(theirs.key("task.read", "task.edit"), theirs.team_id,
                       theirs.project_id, base_url=theirs.base_url)
        task = there.get_task(odd)
        assert task["name"] == "The invoice that breaks"
        assert task["pages"][0]["annotations"][0]["content"] == "$1,234.56"
    finally:
        elsewhere.close()
