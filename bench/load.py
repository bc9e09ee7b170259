"""One database backend: the in-process costs, then this server, bare Flask and the raw
ceiling under gunicorn, loaded by wrk side by side; the large task served; the inspector."""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from typing import Any

import requests

from bench.common import (
    LARGE_COUNT,
    MEASURE_TASKS,
    SMALL_COUNT,
    WORK_DIR,
    build_main_database,
)
from bench.costs import fetch_task, json_dumps_seconds, request_costs
from bench.flatness import flatness
from bench.results import taken
from bench.servers import (
    app_server,
    bare_server,
    combine,
    cpu_seconds,
    raw_server,
    sequential_latencies,
    write_ids,
    wrk,
)
from bench.workers import deliveries, pipeline


def inspector_vs_json(base_url: str, seed: dict[str, Any], task_id: str,
                      rounds: int = 10) -> dict[str, float]:
    """The inspector's page of a task (docs/inspector.md: signed in with the edit key, every page as
    an image link, the annotations table, the timeline, the diagram) against the same task's
    JSON GET, over HTTP on one kept-alive connection, alternating: medians in ms."""
    session = requests.Session()
    form = session.get(f"{base_url}/inspect/sign-in", timeout=30).text
    token = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    signed = session.post(f"{base_url}/inspect/sign-in", timeout=30, allow_redirects=False,
                          data={"key": seed["keys"]["edit"], "csrf_token": token})
    if signed.status_code != 303:
        raise RuntimeError(f"inspector sign-in answered {signed.status_code}")
    where = f"{seed['team_id']}/project/{seed['project_id']}/task/{task_id}"
    page, api = f"{base_url}/inspect/{where}", f"{base_url}/v2/{where}"
    headers = {"Authorization": f"Bearer {seed['keys']['edit']}"}
    times: dict[str, list[float]] = {"page": [], "json": []}
    for n in range(rounds + 1):
        for name, url, extra in (("page", page, {}), ("json", api, headers)):
            started = time.perf_counter()
            response = session.get(url, headers=extra, timeout=60)
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"GET {url} answered {response.status_code}")
            if n:  # the first round warms both up
                times[name].append(elapsed)
    page_ms = statistics.median(times["page"]) * 1000
    json_ms = statistics.median(times["json"]) * 1000
    return {"page_ms": page_ms, "json_ms": json_ms, "ratio": page_ms / json_ms,
            "page_bytes": len(session.get(page, timeout=60).content)}


# --- the side-by-side load -------------------------------------------------------------------

# (name, HTTP method, path suffix): GET a small task, discard one (each request a distinct
# REVIEWING task), GET a large task.
RUNS = (("get", "GET", ""), ("discard", "POST", "/discard"), ("get_large", "GET", ""))


def write_load_ids(db: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Ids: GETs cycle over 1,000 small tasks; discards take distinct ones, never reused (the
    server and the raw app each have their half; the bare app changes nothing)."""
    discard_pool = db["small"][1000:-MEASURE_TASKS]
    random.Random(5).shuffle(discard_pool)
    discard_ids = write_ids(f"{prefix}discard_ids.txt", discard_pool[0::2])
    return {
        "get": write_ids(f"{prefix}get_ids.txt", db["small"][:1000]),
        "get_large": write_ids(f"{prefix}large_ids.txt", db["large"][:-2]),
        "discard": {"bare": discard_ids, "app": discard_ids,
                    "raw": write_ids(f"{prefix}discard_ids_raw.txt", discard_pool[1::2])},
    }


def side_by_side(servers: tuple[tuple[str, str], ...], prefix: str, key: str,
                 ids: dict[str, Any], runs: tuple[tuple[str, str, str], ...], duration: int,
                 connections: int, round_seconds: int = 2) -> dict[str, dict[str, Any]]:
    """wrk against each (side, base URL) in turn, `duration` seconds a side and run, in short
    rounds alternating sides, so that whatever else the machine does at the time weighs on all
    alike; each run stamped with its commit and load average (bench/results.py)."""
    # Warm the servers (imports, connection pools, statement caches) before measuring.
    for _side, base in servers:
        wrk(base, prefix, ids["get"], key, duration=1, connections=connections)
    rounds = max(1, duration // round_seconds)
    load: dict[str, dict[str, Any]] = {}
    for run, method, suffix in runs:
        sides: dict[str, list[dict[str, Any]]] = {side: [] for side, _ in servers}
        with taken() as stamp:
            for _ in range(rounds):
                for side, base in servers:
                    used = sum(r["requests"] for r in sides[side])
                    run_ids = ids[run][side] if isinstance(ids[run], dict) else ids[run]
                    cpu = cpu_seconds(base)
                    sides[side].append(wrk(
                        base, prefix, run_ids, key, method=method, suffix=suffix,
                        duration=duration // rounds, connections=connections,
                        offset=used + 64 * len(sides[side]),
                    ))
                    sides[side][-1]["cpu_s"] = cpu_seconds(base) - cpu
        load[run] = {side: combine(results) for side, results in sides.items()}
        load[run]["ratio"] = ratios(load[run])
        load[run]["taken"] = stamp
    return load


def ratios(sides: dict[str, Any]) -> dict[str, float]:
    """The server's req/s and latencies over the raw ceiling's, and over bare Flask's. Beside
    them, steadier on a busy machine: `rps_paired*`, the median of the rounds' ratios (each
    round's pair run back to back), and `cpu*`, the other side's CPU per request over the
    server's (1.0: as cheap as the other; like the req/s ratio, lower is slower)."""
    out = {}
    for other, suffix in (("bare", ""), ("raw", "_vs_raw")):
        if other in sides:
            app, them = sides["app"], sides[other]
            out[f"rps{suffix}"] = app["rps"] / them["rps"]
            out[f"p50{suffix}"] = app["p50_us"] / max(them["p50_us"], 1)
            out[f"p99{suffix}"] = app["p99_us"] / max(them["p99_us"], 1)
    for other, suffix in (("bare", ""), ("raw", "_vs_raw")):
        if other in sides:
            app, them = sides["app"], sides[other]
            out[f"rps_paired{suffix}"] = statistics.median(
                (a["requests"] / a["duration_us"]) / max(b["requests"] / b["duration_us"], 1e-9)
                for a, b in zip(app["rounds"], them["rounds"], strict=True))
            if "cpu_ms_per_request" in app and "cpu_ms_per_request" in them:
                out[f"cpu{suffix}"] = them["cpu_ms_per_request"] / app["cpu_ms_per_request"]
    return out


# --- one database backend -------------------------------------------------------------------

def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    with taken() as stamp:
        result = _bench_backend(name, url, args)
    return {**result, "taken": stamp}


def _bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{name}] building the database ({SMALL_COUNT} + {LARGE_COUNT} large tasks)...",
          file=sys.stderr)
    db = build_main_database(url)
    seed = db["seed"]
    key = seed["keys"]["edit"]
    headers = {"Authorization": f"Bearer {key}"}
    prefix = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
    result: dict[str, Any] = {"create_40k_seconds": db["create_seconds"]}
    print(f"[{name}] round trips and checkouts per request, in-process...", file=sys.stderr)
    result["costs"] = request_costs(url, db)
    # The server's SQL statements: round trips less BEGIN, COMMIT, ROLLBACK and pings.
    result["statements"] = {
        request: cost["statements"] for request, cost in result["costs"]["server"].items()
    }

    payload = fetch_task(url, seed, db["large"][0])
    bare_tasks = WORK_DIR / "bare_tasks.json"
    bare_tasks.write_text(json.dumps({
        "small": fetch_task(url, seed, db["small"][0])["payload"], "large": payload["payload"],
    }))
    result["large_json_dumps_ms"] = json_dumps_seconds(payload) * 1000

    ids = write_load_ids(db)
    print(f"[{name}] load: {args.duration:g}s per run, {args.connections} connections",
          file=sys.stderr)
    with (app_server(url) as app_url, bare_server(bare_tasks) as bare_url,
          raw_server(url) as raw_url):
        app_port = int(app_url.rsplit(":", 1)[1])
        servers = (("bare", bare_url), ("app", app_url), ("raw", raw_url))
        result["load"] = side_by_side(servers, prefix, key, ids, RUNS, args.duration,
                                      args.connections)
        latencies = sequential_latencies(
            app_port, [prefix + db["large"][0]] * 20, headers, "GET"
        )
        result["large_served_ms"] = statistics.median(latencies) * 1000
        result["inspector_large"] = inspector_vs_json(app_url, seed, db["large"][0])
    result["large_vs_json_dumps"] = result["large_served_ms"] / result["large_json_dumps_ms"]
    for part, wanted, measure, db_name in (
        ("pipeline", not args.no_pipeline, pipeline, "bench-pipeline.db"),
        ("notifications", not args.no_pipeline, deliveries, "bench-notify.db"),
        ("flatness", not args.no_flatness, flatness, "bench-flat.db"),
    ):
        if wanted:
            part_url = url.replace("bench.db", db_name) if name == "sqlite" else url
            with taken() as stamp:
                result[part] = measure(name, part_url, args)
            result[part]["taken"] = stamp
    return result
