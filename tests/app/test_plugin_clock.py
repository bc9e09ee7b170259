"""`sendai.clock` (docs/clock.md), as an integrator's suite uses it: each test here runs a small
suite of its own with pytester (like tests/app/test_plugin.py) and reads its outcome. No test of the
inner suites waits or polls: what an advance ran is done when it returns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sendai_server.testing.clock import Clock, ClockNotSettled
from tests.support.plugin import PLUGIN

pytest_plugins = ["pytester"]

COMMON = """
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sendai_server.testing import SendAIHelperError

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SCAN = ("invoice.pdf", b"%PDF-1.4 an invoice")
PAGE = {"width": 2480, "height": 3508,
        "annotations": [{"entity_id": "total_amount", "confidence": 0.98,
                         "content": "$1.00", "top": 1.0, "left_of_line": 1.0}]}


def in_review(sendai, delay=0.0):
    project = sendai.project(pipeline="auto", delay=delay)
    project.outcome(SCAN, "REVIEWING", pages=[PAGE])
    return project
"""


def test_upload_advance_and_the_task_is_in_review_with_its_notification_received(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flow=COMMON + """
def test_flow(sendai):
    project = in_review(sendai, delay=2)
    project.clock.freeze(MONDAY)
    [task_id] = project.upload(SCAN)["taskIds"]
    assert project.get_task(task_id)["status"] == "PROCESSING"

    assert project.clock.advance(seconds=1) == []
    assert project.get_task(task_id)["status"] == "PROCESSING"
    ran = project.clock.advance(seconds=1)

    assert project.get_task(task_id)["status"] == "REVIEWING"
    assert [n["event"] for n in project.notifications] == ["UPLOAD_IN_REVIEW"]
    assert ran.kinds()[0] == "extract" and "deliver" in ran.kinds()
    assert ran[0]["subject"] == task_id and ran[0]["outcome"] == "REVIEWING"
    assert ran.now == MONDAY + timedelta(seconds=2) == project.clock.now


def test_a_frozen_team_leaves_the_next_tests_team_alone(sendai):
    project = in_review(sendai)
    [task_id] = project.upload(SCAN)["taskIds"]
    assert project.wait_for(task_id, "REVIEWING", timeout=30)["status"] == "REVIEWING"
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=2)


def test_freeze_now_advance_by_units_or_to_a_time_and_resume(pytester: pytest.Pytester
                                                             ) -> None:
    pytester.makepyfile(test_clock=COMMON + """
def test_moves(sendai):
    clock = sendai.clock
    assert (clock.frozen, clock.state()) == (False, None)
    assert abs(clock.now - datetime.now(UTC)) < timedelta(minutes=5)  # real time

    assert clock.freeze(MONDAY) == MONDAY == clock.now
    assert clock.advance(days=1, hours=2, minutes=3, seconds=4).now == MONDAY + timedelta(
        days=1, hours=2, minutes=3, seconds=4)
    assert clock.advance(minutes=0.5).now == MONDAY + timedelta(days=1, seconds=7414)
    assert clock.advance(to="2026-02-01T00:00:00Z").now == datetime(2026, 2, 1, tzinfo=UTC)
    assert clock.state()["advanced_seconds"] == (datetime(2026, 2, 1, tzinfo=UTC)
                                                 - MONDAY).total_seconds()
    assert clock.freeze(datetime(2030, 1, 1)) == datetime(2030, 1, 1, tzinfo=UTC)  # naive: UTC

    clock.resume()
    assert clock.frozen is False
    clock.resume()  # already on real time: nothing to do


@pytest.mark.parametrize("move, field", [({"seconds": -1}, "seconds"),
                                         ({"days": 367}, "seconds"),
                                         ({"to": "2026-01-04T00:00:00Z"}, "to"),
                                         ({"to": "next week"}, "to")])
def test_refused(sendai, move, field):
    sendai.clock.freeze(MONDAY)
    with pytest.raises(SendAIHelperError) as refused:
        sendai.clock.advance(**move)
    assert refused.value.status == 400
    assert refused.value.body["error"]["code"] == "validation_error"
    assert field in str(refused.value.body["error"])
    assert sendai.clock.now == MONDAY


def test_not_frozen(sendai):
    with pytest.raises(SendAIHelperError) as refused:
        sendai.clock.advance(seconds=1)
    assert refused.value.status == 404


def test_duration_and_to(sendai):
    with pytest.raises(TypeError):
        sendai.clock.advance(seconds=1, to=MONDAY)
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=7)


def test_a_receiver_down_for_three_days_in_one_advance(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_down=COMMON + """
import http.server
import threading


def test_down(sendai):
    class Down(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    down = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=down.serve_forever, args=(0.05,), daemon=True).start()
    try:
        project = in_review(sendai)
        connector = project.connector(f"http://127.0.0.1:{down.server_port}/hook",
                                      events=["upload.in_review"])
        project.clock.freeze(MONDAY)
        project.upload(SCAN)
        ran = project.clock.advance(days=3)
    finally:
        down.shutdown()
    listed = requests.get(f"{project.api_url}/notifications", params={"status": "failed"},
                          headers={"Authorization": f"Bearer {project.key('upload.read')}"},
                          timeout=10).json()["payload"]
    [failed] = [n for n in listed if n["connector_id"] == connector["id"]]
    moments = [datetime.fromisoformat(a["at"].replace("Z", "+00:00"))
               for a in failed["attempts"]]
    assert [(m - MONDAY).total_seconds() for m in moments] == [0, 1, 3, 7, 15, 31, 63, 127]
    outcomes = [job["outcome"] for job in ran if job["subject"] == failed["id"]]
    assert outcomes == ["retry"] * 7 + ["failed"]
""")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)


# --- the client side alone (no server): what it sends, and an advance that did not settle ------

class FakeTeamCall:
    def __init__(self, answer: dict[str, object]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, object]] = []

    def __call__(self, method: str, path: str, body: object = None) -> dict[str, object]:
        self.calls.append((method, path, body))
        return {"payload": self.answer}


CLOCK = {"team_id": "team_x", "now": "2026-01-05T09:00:00Z", "frozen_at": "2026-01-05T09:00:00Z",
         "advanced_seconds": 0.0, "pending": [], "ran": [], "settled": True}


@pytest.mark.parametrize("move, body", [
    ({"days": 1, "hours": 1, "minutes": 1, "seconds": 1}, {"seconds": 90061}),
    ({"minutes": 0.25}, {"seconds": 15}),
    ({"seconds": 0.5}, {"seconds": 0.5}),
    ({}, {"seconds": 0}),
    ({"to": datetime(2026, 1, 6, 9, 0)}, {"to": "2026-01-06T09:00:00Z"}),
    ({"to": datetime(2026, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=1)))},
     {"to": "2026-01-06T09:00:00Z"}),
])
def test_advance_sends_one_number_of_seconds_or_a_utc_time(move: dict[str, object],
                                                           body: dict[str, object]) -> None:
    call = FakeTeamCall(CLOCK)
    Clock(call).advance(**move)  # type: ignore[arg-type]
    assert call.calls == [("POST", "/test_helpers/clock/advance", body)]


def test_an_advance_that_stopped_at_the_cap_raises_with_how_far_it_got() -> None:
    stopped = {**CLOCK, "now": "2026-01-05T10:00:00Z", "settled": False,
               "ran": [{"kind": "deliver", "due_at": "2026-01-05T10:00:00Z",
                        "subject": "evt_1", "outcome": "retry"}]}
    with pytest.raises(ClockNotSettled, match="stopped at 2026-01-05T10:00:00Z after running "
                                              "1 job") as raised:
        Clock(FakeTeamCall(stopped)).advance(days=1)
    assert raised.value.answer == stopped


def test_an_advance_answers_what_ran_and_the_clock_after() -> None:
    done = {**CLOCK, "now": "2026-01-05T09:00:02Z",
            "ran": [{"kind": "extract", "due_at": "2026-01-05T09:00:02Z",
                     "subject": "task_1", "outcome": "REVIEWING"}]}
    ran = Clock(FakeTeamCall(done)).advance(seconds=2)
    assert (ran.kinds(), ran.now, ran.clock) == (
        ["extract"], datetime(2026, 1, 5, 9, 0, 2, tzinfo=UTC), done)
