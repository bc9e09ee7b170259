"""bench/results.json: reading it, writing the parts a run measured, and where each was taken.

Every part a run measures carries `taken`: the commit it was measured on (`git rev-parse HEAD`
and whether the work tree had changes not committed: a figure taken on a dirty tree is not the
commit's), when it started, how long it took, and the machine's load average during it (the
1-minute figure sampled every second: min, mean and max, with the 1/5/15-minute figures at its
start and end). A load average near or above the CPU count says the figure was taken on a busy
machine; ratios measured side by side hold better than absolute rates then.

A run replaces the parts it measured and keeps the others (each with its own `taken`), one
level down too: a run with `--no-flatness` keeps the last flatness figures of each database.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from bench.common import BENCH_DIR, REPO_ROOT

PATH = BENCH_DIR / "results.json"
# The parts of results.json whose own keys are merged (a database's figures), not replaced.
MERGED = ("sqlite", "postgresql")


def read() -> dict[str, Any]:
    return json.loads(PATH.read_text()) if PATH.exists() else {}


def write(results: dict[str, Any]) -> None:
    PATH.write_text(json.dumps(results, indent=2) + "\n")


def update(parts: dict[str, Any]) -> dict[str, Any]:
    """Write `parts` into results.json, keeping what they do not measure; return the whole."""
    results = read()
    for key, value in parts.items():
        old = results.get(key)
        if key in MERGED and isinstance(old, dict) and isinstance(value, dict):
            results[key] = {**old, **value}
        else:
            results[key] = value
    write(results)
    return results


def commit() -> dict[str, Any]:
    """The commit the work tree is on, and whether it has changes not committed (bench/work and
    results.json itself aside)."""
    def git(*argv: str) -> str:
        return subprocess.run(("git", *argv), cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()

    try:
        head = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--", ".", ":!bench/results.json",
                      ":!bench/work")
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": head, "dirty": bool(changes)}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def taken(every: float = 1.0) -> Iterator[dict[str, Any]]:
    """A stamp for the figures measured inside the block, filled in when it ends."""
    stamp: dict[str, Any] = {**commit(), "when": now()}
    at_start = os.getloadavg()
    samples = [at_start[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample, daemon=True)
    started = time.monotonic()
    sampler.start()
    try:
        yield stamp
    finally:
        stop.set()
        sampler.join()
        samples.append(os.getloadavg()[0])
        stamp["seconds"] = round(time.monotonic() - started, 1)
        stamp["load_average"] = {
            "min": min(samples), "mean": round(statistics.mean(samples), 2),
            "max": max(samples), "at_start": at_start, "at_end": os.getloadavg(),
            "cpus": os.cpu_count(),
        }


def describe(stamp: dict[str, Any] | None) -> str:
    """One line: the commit, dirty or not, and the load average during the figure."""
    if not stamp:
        return "(no commit recorded)"
    head = (stamp.get("commit") or "?")[:10] + (" (dirty)" if stamp.get("dirty") else "")
    load = stamp.get("load_average") or {}
    return (f"commit {head}, {stamp.get('when', '?')}, load average {load.get('mean', 0):.1f} "
            f"(max {load.get('max', 0):.1f}) on {load.get('cpus', '?')} CPUs")
