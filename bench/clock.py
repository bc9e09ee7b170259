"""`make bench`'s clock section (issue 27, docs/clock.md): what the team's clock saves a test.

One pytest run, as its own process with this Python (sendai-server installed, so pytest finds
the plugin by its entry point), of a suite with four kinds of test, `--tests` of each:

1. `waiting_delay0`: upload → REVIEWING → notification received, waited for today's way
   (`wait_for`, `wait_for_notifications`) on the plugin's own pipeline, which takes no time;
2. `waiting_delay2`: the same on a project whose pipeline takes 2 s a step, as Send AI's
   takes time;
3. `clock_delay2`: the same project, its clock frozen: upload, `advance(seconds=2)`, assert
   at once (no wait at all);
4. `receiver_down_3_days`: a receiver answering 500; upload, `advance(days=3)`: eight
   attempts on the backoff and the notification `failed`, in one advance (its own time is
   recorded by the test).

Per test: its wall time from start to finish (set-up and tear-down included), the median and
the slowest of its kind. `python bench/clock.py` measures and writes the `clock` section of
bench/results.json, keeping the others; `make bench` measures it too (`--no-clock` skips it).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "work" / "clock"
KINDS = ("waiting_delay0", "waiting_delay2", "clock_delay2", "receiver_down_3_days")

TIMING_CONFTEST = """
import json, os, time
from pathlib import Path

TIMES = {"start": {}, "finish": {}, "advance": {}}

def pytest_runtest_logstart(nodeid, location):
    TIMES["start"][nodeid] = time.perf_counter()

def pytest_runtest_logfinish(nodeid, location):
    TIMES["finish"][nodeid] = time.perf_counter()

def pytest_sessionfinish(session):
    Path(os.environ["SENDAI_BENCH_TIMES"]).write_text(json.dumps(TIMES))
"""

SUITE = """
import time

import pytest
import requests
from sendai_server.testing.receiver import Receiver

from conftest import TIMES

SCAN = ("invoice.pdf", b"%PDF-1.4 a bench invoice")
PAGE = {"width": 2480, "height": 3508,
        "annotations": [{"entity_id": "total_amount", "confidence": 0.98,
                         "content": "$1.00", "top": 1.0, "left_of_line": 1.0}]}
TESTS = range(__TESTS__)


def flow(sendai, delay):
    project = sendai.project(pipeline="auto", delay=delay)
    project.outcome(SCAN, "REVIEWING", pages=[PAGE])
    return project


@pytest.mark.parametrize("n", TESTS)
def test_waiting_delay0(sendai, n):
    project = flow(sendai, 0)
    [task_id] = project.upload(SCAN)["taskIds"]
    project.wait_for(task_id, "REVIEWING", timeout=30)
    project.wait_for_notifications(event="UPLOAD_IN_REVIEW", timeout=30)


@pytest.mark.parametrize("n", TESTS)
def test_waiting_delay2(sendai, n):
    project = flow(sendai, 2)
    [task_id] = project.upload(SCAN)["taskIds"]
    project.wait_for(task_id, "REVIEWING", timeout=30)
    project.wait_for_notifications(event="UPLOAD_IN_REVIEW", timeout=30)


@pytest.mark.parametrize("n", TESTS)
def test_clock_delay2(sendai, n):
    project = flow(sendai, 2)
    project.clock.freeze()
    [task_id] = project.upload(SCAN)["taskIds"]
    project.clock.advance(seconds=2)
    assert project.get_task(task_id)["status"] == "REVIEWING"
    assert [n["event"] for n in project.notifications][:1] == ["UPLOAD_IN_REVIEW"]


@pytest.fixture(scope="module")
def down():
    server = Receiver(default=500)  # a receiver that is down: 500 to every delivery
    yield server.url
    server.close()


@pytest.mark.parametrize("n", TESTS)
def test_receiver_down_3_days(sendai, down, n, request):
    project = flow(sendai, 0)
    connector = project.connector(down, events=["upload.in_review"])
    project.clock.freeze()
    project.upload(SCAN)
    started = time.perf_counter()
    project.clock.advance(days=3)
    TIMES["advance"][request.node.nodeid] = time.perf_counter() - started
    listed = requests.get(f"{project.api_url}/notifications", params={"status": "failed"},
                          headers={"Authorization": f"Bearer {project.key('upload.read')}"},
                          timeout=10).json()["payload"]
    [failed] = [n for n in listed if n["connector_id"] == connector["id"]]
    assert len(failed["attempts"]) == 8
"""


def measure(tests: int = 10, python: str = sys.executable) -> dict[str, Any]:
    """Run the suite once and summarize each kind's per-test wall times."""
    python = os.path.abspath(python)  # not resolved: a venv's python is a symlink out of it
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    (WORK_DIR / "pytest.ini").write_text("[pytest]\n")
    (WORK_DIR / "conftest.py").write_text(TIMING_CONFTEST)
    (WORK_DIR / "test_clock_bench.py").write_text(SUITE.replace("__TESTS__", str(tests)))
    times_file = WORK_DIR / "times.json"
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    env["SENDAI_BENCH_TIMES"] = str(times_file)
    load_at_start = os.getloadavg()
    started = time.perf_counter()
    run = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                         cwd=WORK_DIR, env=env, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"the clock bench's suite failed:\n{run.stdout[-4000:]}"
                           f"\n{run.stderr[-2000:]}")
    times = json.loads(times_file.read_text())
    result: dict[str, Any] = {}
    for kind in KINDS:
        durations = sorted(times["finish"][node] - times["start"][node]
                           for node in times["start"] if f"::test_{kind}[" in node)
        assert len(durations) == tests, (kind, len(durations))
        result[kind] = {"median_ms": statistics.median(durations) * 1000,
                        "max_ms": durations[-1] * 1000, "tests": tests}
    advances = sorted(times["advance"].values())
    result["receiver_down_3_days"]["advance_median_ms"] = statistics.median(advances) * 1000
    result["receiver_down_3_days"]["advance_max_ms"] = advances[-1] * 1000
    result["clock_vs_waiting_delay2"] = (result["waiting_delay2"]["median_ms"]
                                         / result["clock_delay2"]["median_ms"])
    result["clock_vs_waiting_delay0"] = (result["waiting_delay0"]["median_ms"]
                                         / result["clock_delay2"]["median_ms"])
    result["suite_wall_s"] = wall
    result["python"] = os.path.relpath(python, BENCH_DIR.parent)
    result["load_average"] = {"start": load_at_start, "end": os.getloadavg()}
    return result


def table(r: dict[str, Any]) -> list[str]:
    rows = [f"== the team's clock (per test, median and slowest of {r[KINDS[0]]['tests']}; "
            f"load average {r['load_average']['start'][0]:.1f}) =="]
    labels = {"waiting_delay0": "wait_for, pipeline of 0 s",
              "waiting_delay2": "wait_for, pipeline of 2 s",
              "clock_delay2": "clock, pipeline of 2 s",
              "receiver_down_3_days": "8 failed deliveries, 3 days"}
    for kind in KINDS:
        rows.append(f"  {labels[kind]:<30} {r[kind]['median_ms']:8.1f} ms  "
                    f"(slowest {r[kind]['max_ms']:.1f} ms)")
    down = r["receiver_down_3_days"]
    rows.append(f"  the 3-day advance alone:       {down['advance_median_ms']:8.1f} ms  "
                f"(slowest {down['advance_max_ms']:.1f} ms)")
    rows.append(f"  clock against waiting: {r['clock_vs_waiting_delay2']:.1f}x faster than a "
                f"2 s pipeline, {r['clock_vs_waiting_delay0']:.1f}x against the plugin's 0 s")
    return rows


def measure_and_record(tests: int = 10, python: str = sys.executable) -> int:
    """Measure, print the table, and write the `clock` section of bench/results.json (the
    other sections as they were)."""
    result = measure(tests, python)
    results_file = BENCH_DIR / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    results["clock"] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(table(result)))
    print("Written to bench/results.json (section `clock`).")
    return 0


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=10, help="tests of each kind")
    parser.add_argument("--python", default=sys.executable)
    arguments = parser.parse_args()
    sys.exit(measure_and_record(arguments.tests, arguments.python))
