"""One source of "now" (docs/clock.md): no module of the package reads the time but the clock's.
A frozen team's timestamps, signatures, delays and backoffs all follow its clock only if every
reader goes through `sendai_server.domain.clock`; this scan fails on a new one that does not."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "sendai_server"

# Reading the time directly (a call, so `default=utcnow` and the names alone do not count).
DIRECT = re.compile(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(\)|\butcnow\(\)")
# Real time on purpose, whatever a team's clock says.
REAL = re.compile(r"\breal_now\(\)")

# The clock's own modules: the server's, and the pytest plugin's client side (what a test
# machine's now is while the team runs on real time).
CLOCK_MODULES = {"domain/clock.py", "testing/clock.py"}

# Where the time is read on purpose outside them, and why: (module, pattern) -> count.
ALLOWED = {
    # The limits library keeps its windows in real Unix time: a rate limit's Retry-After
    # stays on real time (it protects the server).
    ("web/ratelimit.py", "time.time()"): 1,
}
ALLOWED_REAL = {
    # A worker's claim: its lease, and the due time of the teams it may run (none frozen).
    "store/jobs.py": 1,
    # A worker's sleep until the next job (the jobs it may run are on real time).
    "pipeline/worker.py": 1,
    # A delivery's write retried until shortly before its lease runs out.
    "pipeline/deliveries.py": 1,
    # The receiver check signs its cases at the real time, and times the answers: the receiver
    # judges a signature's freshness by its own clock, whatever the team's says.
    "pipeline/receiver_check.py": 2,
    # Jobs whose lease has run out (a task's cleanup), and those whose lease still runs (a
    # test's tear-down waits for them).
    "services/cleanup.py": 2,
    # The clock's leases, and where a resumed team's waits land in real time.
    "services/team_clock.py": 7,
}


def _modules() -> dict[str, str]:
    return {path.relative_to(PACKAGE).as_posix(): path.read_text()
            for path in PACKAGE.rglob("*.py")}


def test_no_module_reads_the_time_but_the_clock() -> None:
    found: dict[tuple[str, str], int] = {}
    for name, source in _modules().items():
        if name in CLOCK_MODULES:
            continue
        for match in DIRECT.finditer(source):
            key = (name, match.group(0))
            found[key] = found.get(key, 0) + 1
    assert found == ALLOWED, "read the time with sendai_server.domain.clock.now() (docs/clock.md)"


def test_real_time_is_read_only_where_it_must_be() -> None:
    found = {name: len(REAL.findall(source)) for name, source in _modules().items()
             if name not in CLOCK_MODULES and REAL.search(source)}
    assert found == ALLOWED_REAL, "a team's time is clock.now(); real_now() is for leases"


def test_the_scan_sees_a_reader() -> None:
    assert DIRECT.search("stamp = datetime.now(UTC)")
    assert DIRECT.search("t = int(time.time())")
    assert DIRECT.search("at = utcnow()")
    assert not DIRECT.search("default=utcnow, started = time.monotonic()")
