"""`make bench`: how close sendai-server comes to what Flask itself can do on this machine.

For SQLite (always) and PostgreSQL (when BENCH_DATABASE_URL is set) it:

1. builds a database with the project's own bulk creation (services.task_creation): 40,000
   REVIEWING tasks of 1 page x 5 annotations (timed) and a few of 50 pages x 40 annotations;
2. measures what a GET and a discard, small and large task, cost the database, in-process
   through the Flask test client, for the server and for bench/raw_app.py: round trips as the
   database sees them (bench/counting.py: sqlite3's trace callback; on PostgreSQL a counting
   TCP proxy in front of the server), BEGIN, COMMIT, ROLLBACK and pings included; SQL
   statements (round trips less those); the server's pool checkouts; and, for reference, what
   SQLAlchemy's before_cursor_execute event sees (not the statements run on the DBAPI
   connection directly);
3. serves the database with `sendai-server serve --workers 2` and, beside it under the same
   gunicorn settings, bench/bare_app.py (a bare Flask app answering the same routes with a
   constant task of the same size) and bench/raw_app.py (the same two routes on the same
   database with the raw driver and the server's statements), and loads all three from `wrk`
   on loopback, each for a fixed time, in alternation: GET small, discard (every request a
   distinct REVIEWING task), GET large;
4. times serving a large task over HTTP against json.dumps of its payload;
5. flatness: discard p50 with 1,000,000 tasks in the table against 1,000 (`--no-flatness`
   skips it);
6. the pipeline (`--no-pipeline` skips it): uploads per second of the one-page sample invoice
   through `sendai-server serve --no-worker --workers 2` (one client, then 4 at once), and
   tasks extracted per second by one and by two `sendai-server worker` processes (uploads
   already queued, released all at once by moving their jobs' run_at); beside them, what
   pypdf's extraction of that invoice costs in-process;
7. the pytest plugin (bench/plugin.py): a plain pytest run with and without it, its first
   `sendai` test's start, 50 tests of one discard each (`--plugin-only` measures only this,
   without wrk, and writes only its section of bench/results.json); and the team's clock
   against waiting, per test (bench/clock.py; `--clock-only` alone, its section only).

7. proxy mode (`--no-proxy` skips it, `--proxy-only` runs it alone and updates only its part
   of bench/results.json): what `sendai-server proxy` (docs/proxy.md) adds per request, median
   and p99, against calling the same server directly: sequential requests on one kept-alive
   connection each, direct and proxied alternating; and the proxy worker's peak RSS before
   and after a 40 MiB upload through it.

It prints a table and writes bench/results.json. Ratios (the server's req/s over the bare
app's, and over the raw app's) are measured side by side in the same run; absolute numbers
depend on the machine and on whatever else runs on it. `--quick` is a 2 s smoke run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import http.server
import io
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import event, func, select, text, update

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WORK_DIR = BENCH_DIR / "work"
sys.path.insert(0, str(REPO_ROOT))

from bench import clock as clock_bench  # noqa: E402
from bench import counting, raw_app  # noqa: E402
from bench import plugin as plugin_bench  # noqa: E402
from sendai_server import create_app  # noqa: E402
from sendai_server.config import Config  # noqa: E402
from sendai_server.domain.lifecycle import TaskStatus  # noqa: E402
from sendai_server.pipeline.extraction import extract  # noqa: E402
from sendai_server.services.connectors import ConnectorSpec, create_connector  # noqa: E402
from sendai_server.services.demo import seed_demo  # noqa: E402
from sendai_server.services.keys import create_key  # noqa: E402
from sendai_server.services.projects import ProjectSettings, create_project  # noqa: E402
from sendai_server.services.task_creation import (  # noqa: E402
    TaskSpec,
    create_tasks,
    synthetic_pages,
)
from sendai_server.services.tasks import fire_on_task  # noqa: E402
from sendai_server.store import migrate  # noqa: E402
from sendai_server.store.db import make_engine  # noqa: E402
from sendai_server.store.models import Job, utcnow  # noqa: E402
from sendai_server.store.uow import UnitOfWork  # noqa: E402
from sendai_server.web.context import engine_of  # noqa: E402

SMALL_COUNT = 40_000
LARGE_COUNT = 6  # the GET load's 4, and one to discard in-process for each of server and raw
MEASURE_TASKS = 64  # small tasks kept out of the load for the in-process measurements
WARM_UP = 12  # requests of each kind before measuring (psycopg prepares on the 6th use)
MEASURED = 4  # requests of each kind measured
WORKERS = 2
TARGETS = {
    "get_rps_ratio": 0.60, "discard_rps_ratio": 0.45, "get_statements": 8,
    "discard_statements": 12, "large_vs_json_dumps": 15.0, "create_40k_seconds": 20.0,
    "flatness_ratio": 1.3, "inspector_vs_json": 15.0, "proxy_added_p50_ms": 5.0,
}


# --- databases ----------------------------------------------------------------------------------

def fresh_database(url: str) -> None:
    """An empty database at the migrations' head."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    migrate.upgrade(url)


def bench_app(url: str) -> Any:
    return create_app(Config(env="test", database_url=url, log_level="WARNING"))


def create_batch(app: Any, project_id: str, count: int, pages: int, annotations: int) -> list[str]:
    """`sendai-server tasks create`'s way: one page template per batch, one bulk insert."""
    template = synthetic_pages(pages, annotations, random.Random(count))
    specs = (
        TaskSpec(name=f"Task {n + 1}", status=TaskStatus.REVIEWING, pages=template)
        for n in range(count)
    )
    with UnitOfWork(engine_of(app)) as uow:
        return create_tasks(uow, project_id, specs)


def build_main_database(url: str) -> dict[str, Any]:
    fresh_database(url)
    app = bench_app(url)
    with UnitOfWork(engine_of(app)) as uow:
        seed = seed_demo(uow)
    started = time.perf_counter()
    small = create_batch(app, seed["project_id"], SMALL_COUNT, 1, 5)
    create_seconds = time.perf_counter() - started
    large = create_batch(app, seed["project_id"], LARGE_COUNT, 50, 40)
    engine_of(app).dispose()
    return {"seed": seed, "small": small, "large": large, "create_seconds": create_seconds}


def add_filler_tasks(url: str, project_id: str, count: int) -> None:
    """`count` COMPLETED tasks with no pages, each with its create event, straight in SQL: a
    big table, fast. Their ids count up (`task_000...1`), so the inserts append to the
    indexes instead of splitting pages all over them; the B-tree depth is what it would be."""
    engine = make_engine(url)
    now = datetime.now(UTC).replace(tzinfo=None)
    params = {"count": count, "project": project_id, "now": now}
    if engine.dialect.name == "sqlite":
        numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)"
        padded = "printf('%020d', i)"
        source = "FROM n"
    else:
        numbers = ""
        padded = "lpad(i::text, 20, '0')"
        source = "FROM generate_series(1, :count) AS n(i)"
    with engine.begin() as conn:
        # Each task with an upload of its own, as `tasks create` makes them (upload_id is
        # never null), in the project's Processed folder, where a COMPLETED task's upload is.
        conn.execute(text(
            f"{numbers} INSERT INTO upload (id, project_id, name, folder_id, meta, moved_at,"
            " created_at, updated_at)"
            f" SELECT 'upl_' || {padded}, CAST(:project AS VARCHAR), 'Filler', (SELECT id"
            " FROM folder WHERE project_id = CAST(:project AS VARCHAR) AND name = 'Processed'),"
            " '[]', NULL, :now, :now"
            f" {source}"
        ), params)
        conn.execute(text(
            f"{numbers} INSERT INTO task (id, project_id, name, created_at, status, step_type,"
            " upload_id, approved, exported_at, export_failed_at, last_opened_at)"
            f" SELECT 'task_' || {padded}, :project, 'Filler', :now, 'COMPLETED',"
            f" 'EXTRACT', 'upl_' || {padded}, false, NULL, NULL, NULL {source}"
        ), params)
        conn.execute(text(
            f"{numbers} INSERT INTO task_event (id, task_id, action, from_status, to_status,"
            " approved, key_id, request_id, created_at, details)"
            f" SELECT 'evt_' || {padded}, 'task_' || {padded}, 'create', NULL, 'COMPLETED',"
            f" false, NULL, NULL, :now, NULL {source}"
        ), params)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


# --- in-process measurements --------------------------------------------------------------------

def request_costs(url: str, db: dict[str, Any]) -> dict[str, Any]:
    """What one request costs the database, server and raw app, in-process (bench/counting.py):
    round trips by kind (statement, BEGIN, COMMIT, ROLLBACK, ping, prepare), statements, the
    server's pool checkouts and what its before_cursor_execute event saw. Each kind of request
    is warmed up first (psycopg prepares a statement on its 6th use, or the first with
    prepare=True), then measured MEASURED times: the mean, an integer when they all agree."""
    proxy = counting.PostgresProxy.for_url(url) if not url.startswith("sqlite") else None
    tally = proxy.tally if proxy is not None else counting.RoundTrips()
    measured_url = proxy.url(url) if proxy is not None else url
    targets = iter(db["small"][-MEASURE_TASKS:])
    try:
        app = bench_app(measured_url)
        engine = engine_of(app)
        if proxy is None:
            counting.trace_sqlite(engine, tally)
        checkouts = counting.Checkouts(engine)
        executes: list[str] = []
        event.listen(engine, "before_cursor_execute",
                     lambda _c, _cur, statement, *_a: executes.append(statement))
        server = _costs(app.test_client(), db, tally, targets, db["large"][-1],
                        checkouts, executes)
        engine.dispose()

        raw = raw_app.create_app(measured_url)
        backend = raw.extensions["raw_backend"]
        if proxy is None:
            backend.connect_hooks.append(
                lambda conn: counting.trace_sqlite_connection(conn, tally))
        raw_costs = _costs(raw.test_client(), db, tally, targets, db["large"][-2])
        backend.close()
    finally:
        if proxy is not None:
            proxy.close()
    return {"server": server, "raw": raw_costs}


def _costs(client: Any, db: dict[str, Any], tally: counting.RoundTrips, targets: Iterator[str],
           large_target: str, checkouts: counting.Checkouts | None = None,
           executes: list[str] | None = None) -> dict[str, dict[str, float]]:
    seed = db["seed"]
    headers = {"Authorization": f"Bearer {seed['keys']['edit']}"}
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
    small, large = db["small"][0], db["large"][0]

    def request(method: str, path: str) -> None:
        response = getattr(client, method)(base + path, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)

    request("get", small)  # records the key's use (a write, once a minute)
    for _ in range(WARM_UP):
        request("get", small)
        request("get", large)
        request("post", next(targets) + "/discard")
    out = {}
    for name, method, paths in (
        ("get_small", "get", [small] * MEASURED), ("get_large", "get", [large] * MEASURED),
        ("discard_small", "post", [next(targets) + "/discard" for _ in range(MEASURED)]),
        ("discard_large", "post", [large_target + "/discard"]),
    ):
        runs: list[dict[str, int]] = []
        for path in paths:
            if executes is not None:
                executes.clear()
            with counting.measuring(tally, checkouts) as cost:
                request(method, path)
            if executes is not None:
                cost["cursor_executes"] = len(executes)
            runs.append(cost)
        out[name] = {key: _mean([run[key] for run in runs]) for key in runs[0]}
    return out


def _mean(values: list[int]) -> float:
    return values[0] if len(set(values)) == 1 else round(statistics.mean(values), 2)


def fetch_task(url: str, seed: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The GET response body for a task, in-process."""
    app = bench_app(url)
    response = app.test_client().get(
        f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/{task_id}",
        headers={"Authorization": f"Bearer {seed['keys']['edit']}"},
    )
    engine_of(app).dispose()
    return response.get_json()  # type: ignore[no-any-return]


def json_dumps_seconds(document: dict[str, Any], rounds: int = 30) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        json.dumps(document, separators=(",", ":"))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- servers and load ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(argv: list[str], env: dict[str, str], port: int, ready_path: str) -> Iterator[str]:
    log = open(WORK_DIR / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        argv, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            try:
                if http_get(port, ready_path)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready; see {log.name}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def app_server(url: str) -> Any:
    port = free_port()
    argv = [str(Path(sys.executable).with_name("sendai-server")), "serve",
            "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def bare_server(tasks_file: Path) -> Any:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "bench.bare_app:app"]
    env = {"BENCH_BARE_TASK": str(tasks_file), "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def raw_server(url: str) -> Any:
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "--workers", str(WORKERS), "bench.raw_app:app"]
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING"}
    return server(argv, env, port, "/readyz")


def http_get(port: int, path: str, headers: dict[str, str] | None = None,
             method: str = "GET") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wrk(base_url: str, prefix: str, ids_file: Path, key: str, *, method: str = "GET",
        suffix: str = "", duration: float, connections: int, offset: int = 0) -> dict[str, Any]:
    out = WORK_DIR / "wrk.json"
    out.unlink(missing_ok=True)
    env = {**os.environ, "BENCH_IDS": str(ids_file), "BENCH_PATH": prefix, "BENCH_KEY": key,
           "BENCH_METHOD": method, "BENCH_SUFFIX": suffix, "BENCH_OUT": str(out),
           "BENCH_THREADS": "1", "BENCH_OFFSET": str(offset)}
    subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s",
         "-s", str(BENCH_DIR / "ids.lua"), base_url],
        env=env, check=True, stdout=subprocess.DEVNULL,
    )
    result = json.loads(out.read_text())
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(v for k, v in result.items() if k.startswith("errors_"))
    return result


def combine(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one side: total requests over total time; the median round's percentiles."""
    requests = sum(r["requests"] for r in results)
    seconds = sum(r["duration_us"] for r in results) / 1e6
    out: dict[str, Any] = {"requests": requests, "seconds": seconds, "rps": requests / seconds,
                           "errors": sum(r["errors"] for r in results), "rounds": results}
    for percentile in ("p50_us", "p90_us", "p99_us"):
        out[percentile] = statistics.median(r[percentile] for r in results)
    return out


def write_ids(name: str, ids: list[str]) -> Path:
    path = WORK_DIR / name
    path.write_text("\n".join(ids) + "\n")
    return path


def sequential_latencies(port: int, paths: list[str], headers: dict[str, str],
                         method: str) -> list[float]:
    times = []
    for path in paths:
        started = time.perf_counter()
        status, _ = http_get(port, path, headers, method)
        times.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}")
    return times


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


# --- one database backend -----------------------------------------------------------------------

def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
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

    # Ids: GETs cycle over 1,000 small tasks; discards take distinct ones, never reused (the
    # server and the raw app each have their half; the bare app changes nothing).
    get_ids = write_ids("get_ids.txt", db["small"][:1000])
    large_ids = write_ids("large_ids.txt", db["large"][:-2])
    discard_pool = db["small"][1000:-MEASURE_TASKS]
    random.Random(5).shuffle(discard_pool)
    discard_ids = write_ids("discard_ids.txt", discard_pool[0::2])
    raw_discard_ids = write_ids("discard_ids_raw.txt", discard_pool[1::2])

    load: dict[str, dict[str, Any]] = {}
    print(f"[{name}] load: {args.duration:g}s per run, {args.connections} connections",
          file=sys.stderr)
    with (app_server(url) as app_url, bare_server(bare_tasks) as bare_url,
          raw_server(url) as raw_url):
        app_port = int(app_url.rsplit(":", 1)[1])
        servers = (("bare", bare_url), ("app", app_url), ("raw", raw_url))
        # Warm the servers (imports, connection pools, statement caches) before measuring.
        for _side, base in servers:
            wrk(base, prefix, get_ids, key, duration=1, connections=args.connections)
        runs: tuple[tuple[str, dict[str, Path], str, str], ...] = (
            ("get", {}, "GET", ""),
            ("discard", {"bare": discard_ids, "app": discard_ids, "raw": raw_discard_ids},
             "POST", "/discard"),
            ("get_large", {}, "GET", ""),
        )
        default_ids = {"get": get_ids, "get_large": large_ids}
        # Short rounds, alternating sides, so that whatever else the machine does at the
        # time weighs on all alike.
        rounds = max(1, args.duration // 2)
        for run, ids, method, suffix in runs:
            load[run] = {side: [] for side, _ in servers}
            for _ in range(rounds):
                for side, base in servers:
                    used = sum(r["requests"] for r in load[run][side])
                    load[run][side].append(wrk(
                        base, prefix, ids.get(side) or default_ids[run], key, method=method,
                        suffix=suffix, duration=args.duration // rounds,
                        connections=args.connections, offset=used + 64 * len(load[run][side]),
                    ))
            for side, _ in servers:
                load[run][side] = combine(load[run][side])
        latencies = sequential_latencies(
            app_port, [prefix + db["large"][0]] * 20, headers, "GET"
        )
        result["large_served_ms"] = statistics.median(latencies) * 1000
        result["inspector_large"] = inspector_vs_json(app_url, seed, db["large"][0])
    result["load"] = load
    for sides in load.values():
        sides["ratio"] = {
            "rps": sides["app"]["rps"] / sides["bare"]["rps"],
            "p50": sides["app"]["p50_us"] / max(sides["bare"]["p50_us"], 1),
            "p99": sides["app"]["p99_us"] / max(sides["bare"]["p99_us"], 1),
            "rps_vs_raw": sides["app"]["rps"] / sides["raw"]["rps"],
            "p50_vs_raw": sides["app"]["p50_us"] / max(sides["raw"]["p50_us"], 1),
            "p99_vs_raw": sides["app"]["p99_us"] / max(sides["raw"]["p99_us"], 1),
        }
    result["large_vs_json_dumps"] = result["large_served_ms"] / result["large_json_dumps_ms"]
    if not args.no_pipeline:
        pipeline_url = url.replace("bench.db", "bench-pipeline.db") if name == "sqlite" else url
        result["pipeline"] = pipeline(name, pipeline_url, args)
        notify_url = url.replace("bench.db", "bench-notify.db") if name == "sqlite" else url
        result["notifications"] = deliveries(name, notify_url, args)
    if not args.no_flatness:
        flat_url = url.replace("bench.db", "bench-flat.db") if name == "sqlite" else url
        result["flatness"] = flatness(name, flat_url, args)
    return result


def flatness(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Discard p50 (sequential requests, one at a time) with 1,000 tasks in the table and with
    1,000,000: the same 1,000 REVIEWING targets, plus 999,000 page-less COMPLETED tasks."""
    out: dict[str, Any] = {}
    for total in (1_000, 1_000_000):
        print(f"[{name}] flatness: {total:,} tasks...", file=sys.stderr)
        fresh_database(url)
        app = bench_app(url)
        with UnitOfWork(engine_of(app)) as uow:
            seed = seed_demo(uow)
        targets = create_batch(app, seed["project_id"], 1_000, 1, 5)
        engine_of(app).dispose()
        started = time.perf_counter()
        if total > 1_000:
            add_filler_tasks(url, seed["project_id"], total - 1_000)
        build_seconds = time.perf_counter() - started
        headers = {"Authorization": f"Bearer {seed['keys']['edit']}"}
        prefix = f"/v2/{seed['team_id']}/project/{seed['project_id']}/task/"
        with app_server(url) as app_url:
            port = int(app_url.rsplit(":", 1)[1])
            paths = [f"{prefix}{task_id}/discard" for task_id in targets[: args.flat_requests]]
            sequential_latencies(port, paths[:50], headers, "POST")  # warm-up
            times = sequential_latencies(port, paths[50:], headers, "POST")
        out[str(total)] = {"p50_ms": statistics.median(times) * 1000,
                           "p99_ms": sorted(times)[int(len(times) * 0.99)] * 1000,
                           "requests": len(times), "build_seconds": build_seconds}
    out["ratio"] = out["1000000"]["p50_ms"] / out["1000"]["p50_ms"]
    return out


# --- the pipeline: uploads in, tasks out --------------------------------------------------------

SAMPLE_INVOICE = REPO_ROOT / "sendai_server" / "samples" / "invoice.pdf"
UPLOAD_CLIENTS = 4


def pipeline(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Uploads per second through gunicorn, and tasks per second by 1 and 2 worker processes.

    The uploads go to a project whose pipeline is `auto` with a delay of an hour, so that no
    job is due while they are made; each worker run then takes a batch of those jobs, made due
    together a moment after its workers have started, and is timed from that moment until
    none of the batch is left."""
    batch = 30 if args.quick else args.pipeline_tasks
    sequential = 20 if args.quick else batch // 2
    concurrent = max(sequential, 2 * batch + 10 - sequential)  # enough jobs for both runs
    print(f"[{name}] pipeline: {sequential} + {concurrent} uploads, then {batch} tasks by 1 "
          "and by 2 workers...", file=sys.stderr)
    fresh_database(url)
    files = WORK_DIR / f"files-{name}"
    shutil.rmtree(files, ignore_errors=True)
    app = bench_app(url)
    engine = engine_of(app)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
        project_id, _folders = create_project(uow, seed["team_id"], "Pipeline bench",
                                              ProjectSettings(delay=3600))
        key = create_key(uow, seed["team_id"], ["upload.create"], [project_id]).key
    invoice = SAMPLE_INVOICE.read_bytes()
    out: dict[str, Any] = {"file_bytes": len(invoice), "upload_clients": UPLOAD_CLIENTS,
                           "extract_ms": extract_ms(invoice)}
    env = {"DATABASE_URL": url, "SENDAI_LOG_LEVEL": "WARNING", "SENDAI_STORAGE_URL": str(files)}
    port = free_port()
    argv = [str(Path(sys.executable).with_name("sendai-server")), "serve", "--no-worker",
            "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}"]
    upload_url = f"http://127.0.0.1:{port}/v2/{seed['team_id']}/project/{project_id}/upload"
    with server(argv, env, port, "/readyz"):
        upload_many(upload_url, key, invoice, 10, 1)  # warm-up
        out["uploads_1_client"] = upload_many(upload_url, key, invoice, sequential, 1)
        out[f"uploads_{UPLOAD_CLIENTS}_clients"] = upload_many(
            upload_url, key, invoice, concurrent, UPLOAD_CLIENTS)
    for run, workers in enumerate((1, 2), start=1):
        result = process_jobs(engine, env, batch, workers)
        # Each task extracted once: one to_review event each, none twice.
        if result["to_review_events"] != run * batch:
            raise RuntimeError(f"{result['to_review_events']} to_review events after "
                               f"{run * batch} tasks")
        out[f"tasks_{workers}_worker{'s' if workers > 1 else ''}"] = result
    engine.dispose()
    return out


def extract_ms(document: bytes, rounds: int = 30) -> float:
    """pypdf's extraction of one file, in-process: the part of a job that is not the database."""
    digest = hashlib.sha256(document).hexdigest()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = extract(io.BytesIO(document), "pdf", digest)
        times.append(time.perf_counter() - started)
        assert result.failure is None, result.failure
    return statistics.median(times) * 1000


def upload_many(url: str, key: str, document: bytes, count: int, clients: int) -> dict[str, Any]:
    """`count` uploads of `document` from `clients` threads, each with its own connection."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    shares = [count // clients + (n < count % clients) for n in range(clients)]

    def client(share: int) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {key}"
            for n in range(share):
                started = time.perf_counter()
                response = session.post(url, files={"file": (f"invoice-{n}.pdf", document,
                                                             "application/pdf")}, timeout=60)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} uploads failed, e.g. {errors[0]}")
    latencies.sort()
    return {"uploads": count, "clients": clients, "seconds": seconds, "per_second": count / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000}


def process_jobs(engine: Any, env: dict[str, str], count: int, workers: int) -> dict[str, Any]:
    """Start `workers` worker processes, make `count` queued extract jobs due at once, and time
    them from then until none is left."""
    with engine.connect() as conn:
        ids = list(conn.scalars(select(Job.id).where(Job.kind == "extract")
                                .order_by(Job.id).limit(count)))
    if len(ids) < count:
        raise RuntimeError(f"only {len(ids)} queued jobs for a run of {count}")
    logs, processes = [], []
    worker_env = {**os.environ, **env, "SENDAI_LOG_LEVEL": "INFO",
                  "SENDAI_WORKER_POLL_SECONDS": "0.05"}
    for n in range(workers):
        log = open(WORK_DIR / f"worker-{workers}-{n}.log", "w+")  # noqa: SIM115 - closed below
        logs.append(log)
        processes.append(subprocess.Popen(
            [str(Path(sys.executable).with_name("sendai-server")), "worker"], cwd=REPO_ROOT,
            env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
    try:
        deadline = time.monotonic() + 30
        while not all("worker started" in Path(log.name).read_text() for log in logs):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a worker did not start; see {logs[0].name}")
            time.sleep(0.05)
        due = utcnow() + timedelta(seconds=0.5)
        with engine.begin() as conn:
            conn.execute(update(Job).where(Job.id.in_(ids)).values(run_at=due))
        deadline = time.monotonic() + 300
        while True:
            with engine.connect() as conn:
                left = conn.scalar(select(func.count()).select_from(Job)
                                   .where(Job.id.in_(ids)))
            finished = utcnow()
            if not left:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{left} of {count} jobs still queued after 300 s")
            time.sleep(0.01)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()
    seconds = (finished - due).total_seconds()
    with engine.connect() as conn:
        moved = conn.scalar(text("SELECT count(*) FROM task_event WHERE action = 'to_review'"))
    return {"tasks": count, "workers": workers, "seconds": seconds,
            "per_second": count / seconds, "to_review_events": moved}


# --- notifications: the outbox to a local receiver ----------------------------------------------

class _Receiver(http.server.BaseHTTPRequestHandler):
    """Answers 200 to every delivery, at once, and counts them."""

    received = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        type(self).received += 1

    def log_message(self, *_args: Any) -> None:
        pass


def deliveries(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    """Notifications delivered per second by one worker process to a receiver on loopback that
    answers 200 at once: `count` uploads whose task goes to review, each an UPLOAD_IN_REVIEW
    notification for the project's one connector, queued first and then delivered (in order,
    one connector's at a time: the outbox's rule), timed until the last is delivered."""
    count = 30 if args.quick else 300
    print(f"[{name}] notifications: {count} to a local receiver by 1 worker...",
          file=sys.stderr)
    fresh_database(url)
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    _Receiver.received = 0
    app = bench_app(url)
    engine = engine_of(app)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
        project_id, _ = create_project(uow, seed["team_id"], "Notifications bench",
                                       ProjectSettings(pipeline="manual"))
        create_connector(uow, project_id, ConnectorSpec(
            url=f"http://127.0.0.1:{receiver.server_port}/hook", events=("upload.in_review",)))
        task_ids = create_tasks(uow, project_id, [
            TaskSpec(name=f"Notify {n}", status=TaskStatus.PROCESSING) for n in range(count)])
        for task_id in task_ids:  # each upload's status becomes IN_REVIEW: one notification
            with uow.write() as conn:
                fire_on_task(conn, project_id, task_id, "to_review", key_id=None,
                             request_id=None)
    env = {**os.environ, "DATABASE_URL": url, "SENDAI_LOG_LEVEL": "INFO",
           "SENDAI_WORKER_POLL_SECONDS": "0.05", "SENDAI_STORAGE_URL": str(WORK_DIR / "files")}
    log = open(WORK_DIR / f"deliveries-{name}.log", "w+")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("sendai-server")), "worker"], cwd=REPO_ROOT,
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while "worker started" not in Path(log.name).read_text():  # timed from its start
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the worker did not start; see {log.name}")
            time.sleep(0.01)
        started = time.monotonic()
        deadline = started + 300
        while True:
            with engine.connect() as conn:
                delivered = conn.scalar(text(
                    "SELECT count(*) FROM notification WHERE status = 'delivered'"))
            if delivered == count:
                break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{delivered} of {count} delivered; see {log.name}")
            time.sleep(0.01)
        seconds = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        receiver.shutdown()
        engine.dispose()
    return {"notifications": count, "seconds": seconds, "per_second": count / seconds,
            "received": _Receiver.received}


# --- report -------------------------------------------------------------------------------------

# --- proxy mode (docs/proxy.md) ------------------------------------------------------------------

PROXY_REQUESTS = 1000  # of each kind and side, after PROXY_WARM_UP
PROXY_WARM_UP = 100


@contextmanager
def proxy_server(upstream: str) -> Iterator[tuple[str, int]]:
    """`sendai-server proxy` in front of `upstream`: (its URL, its gunicorn master's pid)."""
    port = free_port()
    log = open(WORK_DIR / f"proxy-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("sendai-server")), "proxy", "--upstream", upstream,
         "--bind", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the proxy exited; see {log.name}")
            try:
                if http_get(port, "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the proxy is not ready; see {log.name}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _peak_rss_mib(master_pid: int) -> float:
    """VmHWM of the proxy's one gunicorn worker, in MiB."""
    [worker] = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def _cpu_ms(master_pid: int) -> float:
    """CPU time (user + system) the proxy's worker has used, in ms."""
    [worker] = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    fields = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _timed(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return elapsed


def _upload_40_mib(port: int, path: str, key: str) -> int:
    boundary = "benchproxyboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    block = b"%PDF-1.4\n" + b"0" * (1024 * 1024 - 9)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=iter([head, *[block] * 40, tail]), headers={
            "Authorization": f"Bearer {key}", "Content-Length": str(len(head) + 40 * len(block)
                                                                     + len(tail)),
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def proxy_overhead(url: str) -> dict[str, Any]:
    """Sequential GETs, direct and through the proxy alternating, each side on a kept-alive
    connection of its own: a small task, and a list of 20 tasks. Medians and p99s in ms."""
    fresh_database(url)
    engine = make_engine(url)
    with UnitOfWork(engine) as uow:
        seed = seed_demo(uow)
    engine.dispose()
    base = f"/v2/{seed['team_id']}/project/{seed['project_id']}"
    headers = {"Authorization": f"Bearer {seed['keys']['helpers']}"}
    paths = {"get_task": f"{base}/task/{seed['tasks']['REVIEWING'][0]}",
             "list_20_tasks": f"{base}/task?limit=20"}
    result: dict[str, Any] = {"requests": PROXY_REQUESTS, "warm_up": PROXY_WARM_UP}
    with app_server(url) as direct_url, proxy_server(direct_url) as (proxy_url, proxy_pid):
        direct_port = int(direct_url.rsplit(":", 1)[1])
        proxy_port = int(proxy_url.rsplit(":", 1)[1])
        for name, path in paths.items():
            sides = {"direct": http.client.HTTPConnection("127.0.0.1", direct_port, timeout=30),
                     "proxied": http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)}
            times: dict[str, list[float]] = {"direct": [], "proxied": []}
            cpu_at_start = 0.0
            for n in range(PROXY_WARM_UP + PROXY_REQUESTS):
                if n == PROXY_WARM_UP:
                    cpu_at_start = _cpu_ms(proxy_pid)
                for side, conn in sides.items():
                    elapsed = _timed(conn, path, headers)
                    if n >= PROXY_WARM_UP:
                        times[side].append(elapsed * 1000)
            for conn in sides.values():
                conn.close()
            row: dict[str, Any] = {}
            for side, values in times.items():
                ordered = sorted(values)
                row[side] = {"p50_ms": statistics.median(ordered),
                             "p99_ms": ordered[int(len(ordered) * 0.99) - 1]}
            # What the proxy costs whatever else the machine runs: its own CPU per request.
            row["proxy_cpu_ms_per_request"] = (_cpu_ms(proxy_pid) - cpu_at_start) / PROXY_REQUESTS
            row["added_p50_ms"] = row["proxied"]["p50_ms"] - row["direct"]["p50_ms"]
            row["added_p99_ms"] = row["proxied"]["p99_ms"] - row["direct"]["p99_ms"]
            result[name] = row
        before = _peak_rss_mib(proxy_pid)
        status = _upload_40_mib(proxy_port, f"{base}/upload", seed["keys"]["helpers"])
        if status != 200:
            raise RuntimeError(f"the 40 MiB upload through the proxy answered {status}")
        result["upload_40_mib_peak_rss_mib"] = {"before": before,
                                                "after": _peak_rss_mib(proxy_pid)}
    return result


def proxy_table(p: dict[str, Any]) -> list[str]:
    target = TARGETS["proxy_added_p50_ms"]
    rows = [f"== proxy mode: what `sendai-server proxy` adds per request ({p['requests']} "
            "sequential GETs a side, alternating) ==",
            f"{'':16}{'direct p50':>11}{'proxied':>9}{'added':>8}{'direct p99':>12}"
            f"{'proxied':>9}{'added':>8}{'proxy CPU':>10}  target (added p50)"]
    for name in ("get_task", "list_20_tasks"):
        r = p[name]
        rows.append(f"{name:16}{r['direct']['p50_ms']:11.2f}{r['proxied']['p50_ms']:9.2f}"
                    f"{r['added_p50_ms']:8.2f}{r['direct']['p99_ms']:12.2f}"
                    f"{r['proxied']['p99_ms']:9.2f}{r['added_p99_ms']:8.2f}"
                    f"{r['proxy_cpu_ms_per_request']:10.2f}  "
                    f"< {target:.0f} ms {verdict(r['added_p50_ms'] < target)}")
    rss = p["upload_40_mib_peak_rss_mib"]
    rows.append(f"  a 40 MiB upload through it: the proxy worker's peak RSS {rss['before']:.0f} "
                f"-> {rss['after']:.0f} MiB")
    return rows


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table(name: str, r: dict[str, Any]) -> str:
    t = TARGETS
    load, st = r["load"], r["statements"]
    rows = [f"== {name} ({WORKERS} gunicorn workers; ratios are app / bare Flask and app / raw "
            "driver, same run) =="]
    rows.append(f"{'':14}{'app req/s':>10}{'bare':>7}{'raw':>7}{'/bare':>7}{'/raw':>6}"
                 f"{'p50 ms':>8}{'(bare)':>7}{'(raw)':>7}{'p99 ms':>8}{'(bare)':>7}{'(raw)':>7}"
                 "  target (/bare)")
    for run, target in (("get", t["get_rps_ratio"]), ("discard", t["discard_rps_ratio"]),
                        ("get_large", None)):
        a, b, w = load[run]["app"], load[run]["bare"], load[run]["raw"]
        ratio, raw_ratio = load[run]["ratio"]["rps"], load[run]["ratio"]["rps_vs_raw"]
        goal = f">= {target:.2f} {verdict(ratio >= target)}" if target else "(50x40 task)"
        errors = "".join(f"  [{side['errors']} {label} errors]"
                         for label, side in (("app", a), ("raw", w)) if side["errors"])
        rows.append(
            f"{run.replace('_', ' '):14}{a['rps']:10.0f}{b['rps']:7.0f}{w['rps']:7.0f}"
            f"{ratio:7.2f}{raw_ratio:6.2f}"
            f"{a['p50_us'] / 1000:8.2f}{b['p50_us'] / 1000:7.2f}{w['p50_us'] / 1000:7.2f}"
            f"{a['p99_us'] / 1000:8.2f}{b['p99_us'] / 1000:7.2f}{w['p99_us'] / 1000:7.2f}"
            f"  {goal}{errors}"
        )
    get_ok = st["get_small"] == st["get_large"] <= t["get_statements"]
    discard_ok = st["discard_small"] == st["discard_large"] <= t["discard_statements"]
    rows.append(f"SQL statements, GET     1x5: {st['get_small']:3}   50x40: {st['get_large']:3}"
                f"   target same, <= {t['get_statements']}  {verdict(get_ok)}")
    rows.append(f"SQL statements, discard 1x5: {st['discard_small']:3}   50x40: "
                f"{st['discard_large']:3}   target same, <= {t['discard_statements']}  "
                f"{verdict(discard_ok)}")
    rows.extend(costs_table(r["costs"]))
    ratio = r["large_vs_json_dumps"]
    rows.append(f"50x40 task served over HTTP {r['large_served_ms']:.1f} ms; json.dumps "
                f"{r['large_json_dumps_ms']:.2f} ms; {ratio:.1f}x  target <= "
                f"{t['large_vs_json_dumps']:.0f}x  {verdict(ratio <= t['large_vs_json_dumps'])}")
    if "inspector_large" in r:
        i = r["inspector_large"]
        goal = t["inspector_vs_json"]
        rows.append(f"50x40 task's inspector page {i['page_ms']:.1f} ms ({i['page_bytes']:,} "
                    f"bytes); its JSON GET {i['json_ms']:.1f} ms; {i['ratio']:.1f}x  target <= "
                    f"{goal:.0f}x  {verdict(i['ratio'] <= goal)}")
    seconds = r["create_40k_seconds"]
    goal = (f"target < {t['create_40k_seconds']:.0f} s  "
            f"{verdict(seconds < t['create_40k_seconds'])}" if name == "sqlite"
            else "(the target is SQLite's)")
    rows.append(f"40,000 tasks created in {seconds:.1f} s  {goal}")
    if "pipeline" in r:
        rows.extend(pipeline_table(r["pipeline"]))
    if "notifications" in r:
        n = r["notifications"]
        rows.append(f"  notifications/s, 1 worker  {n['per_second']:6.0f}   ({n['notifications']} "
                    f"UPLOAD_IN_REVIEW to a local receiver in {n['seconds']:.1f} s)")
    if "flatness" in r:
        f = r["flatness"]
        rows.append(
            f"discard p50 at 1M tasks {f['1000000']['p50_ms']:.2f} ms vs 1k "
            f"{f['1000']['p50_ms']:.2f} ms: {f['ratio']:.2f}x  target <= "
            f"{t['flatness_ratio']}x  {verdict(f['ratio'] <= t['flatness_ratio'])}"
            f"  (1M table built in {f['1000000']['build_seconds']:.0f} s)"
        )
    return "\n".join(rows)


def pipeline_table(p: dict[str, Any]) -> list[str]:
    rows = [f"pipeline, one-page invoice ({p['file_bytes']:,} bytes; pypdf extraction "
            f"{p['extract_ms']:.1f} ms in-process):"]
    for key, label in (("uploads_1_client", "uploads/s, 1 client"),
                       (f"uploads_{p['upload_clients']}_clients",
                        f"uploads/s, {p['upload_clients']} clients")):
        u = p[key]
        rows.append(f"  {label:24}{u['per_second']:8.0f}   p50 {u['p50_ms']:6.1f} ms  p99 "
                    f"{u['p99_ms']:6.1f} ms  ({u['uploads']} uploads in {u['seconds']:.1f} s)")
    for key, label in (("tasks_1_worker", "tasks/s, 1 worker"),
                       ("tasks_2_workers", "tasks/s, 2 workers")):
        t = p[key]
        rows.append(f"  {label:24}{t['per_second']:8.0f}   {1000 / t['per_second']:6.1f} ms a "
                    f"task  ({t['tasks']} tasks in {t['seconds']:.1f} s)")
    return rows


def costs_table(costs: dict[str, Any]) -> list[str]:
    """Round trips per request by kind, server and raw app, and the server's checkouts."""
    kinds = (("statements", "stmt"), ("begin", "BEGIN"), ("commit", "COMMIT"),
             ("rollback", "ROLLBK"), ("ping", "ping"))
    head = "".join(f"{label:>7}" for _, label in kinds)
    rows = [f"{'round trips/request':20}{'server':>7}{head}  {'raw':>5}{head}  checkouts"]
    prepares = []
    for request in ("get_small", "get_large", "discard_small", "discard_large"):
        server, raw = costs["server"][request], costs["raw"][request]
        cells = []
        for cost, width in ((server, 7), (raw, 5)):
            cells.append(f"{cost['round_trips']:{width}g}"
                         + "".join(f"{cost[kind]:7g}" for kind, _ in kinds))
            if cost["prepare"]:
                prepares.append(request)
        label = request.replace("_small", " 1x5").replace("_large", " 50x40")
        rows.append(f"{label:20}{cells[0]}  {cells[1]}{server['checkouts']:11g}")
    rows.append("  (as the database sees them, in-process; checkouts: the server's pool; the "
                "raw app keeps one connection per thread)")
    if prepares:
        rows.append(f"  psycopg prepare round trips in {', '.join(prepares)}: see results.json")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8,
                        help="seconds of load per measurement and side (in 2 s rounds)")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections")
    parser.add_argument("--no-flatness", action="store_true",
                        help="skip the 1,000 vs 1,000,000 tasks discard check")
    parser.add_argument("--flat-requests", type=int, default=550,
                        help="sequential discards per flatness database (first 50 warm up)")
    parser.add_argument("--no-pipeline", action="store_true",
                        help="skip the uploads and worker throughput measurements")
    parser.add_argument("--pipeline-tasks", type=int, default=300,
                        help="tasks per worker run (uploads: about twice as many)")
    parser.add_argument("--sqlite-only", action="store_true",
                        help="ignore BENCH_DATABASE_URL")
    parser.add_argument("--no-proxy", action="store_true",
                        help="skip what proxy mode adds per request")
    parser.add_argument("--proxy-only", action="store_true",
                        help="only what proxy mode adds per request (SQLite); updates the "
                             "'proxy' part of bench/results.json and keeps the rest")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 s of load per measurement and side, no flatness")
    parser.add_argument("--plugin-only", action="store_true",
                        help="measure only the pytest plugin's costs (bench/plugin.py)")
    parser.add_argument("--plugin-runs", type=int, default=5,
                        help="rounds of the plugin's measurements (each figure: the median)")
    parser.add_argument("--clock-only", action="store_true",
                        help="only the team's clock against waiting (bench/clock.py); writes "
                             "only its 'clock' part of bench/results.json")
    parser.add_argument("--section", metavar="NAME",
                        help="a partial run (no pipeline, notifications or flatness) whose "
                             "figures go under NAME in bench/results.json, the rest kept")
    args = parser.parse_args()
    if args.plugin_only:
        return plugin_bench.measure_and_record(args.plugin_runs)
    if args.clock_only:
        return clock_bench.measure_and_record()
    if args.quick:
        args.duration, args.no_flatness = 2, True
    if args.section:
        args.no_pipeline = args.no_flatness = True
    if args.proxy_only:
        WORK_DIR.mkdir(exist_ok=True)
        return main_proxy_only()
    if shutil.which("wrk") is None:
        print("wrk is not installed: run `apt-get install -y wrk` (or `make bench` as root).",
              file=sys.stderr)
        return 2
    WORK_DIR.mkdir(exist_ok=True)
    backends = {"sqlite": f"sqlite:///{WORK_DIR / 'bench.db'}"}
    if os.environ.get("BENCH_DATABASE_URL") and not args.sqlite_only:
        backends["postgresql"] = os.environ["BENCH_DATABASE_URL"]
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": os.getloadavg()},
        "settings": {"workers": WORKERS, "wrk_connections": args.connections,
                     "wrk_seconds": args.duration},
        "targets": TARGETS,
    }
    for name, url in backends.items():
        results[name] = bench_backend(name, url, args)
    if not args.section:
        results["plugin"] = plugin_bench.measure(args.plugin_runs)
        results["clock"] = clock_bench.measure()
    if not args.no_proxy:
        print("[proxy] what proxy mode adds per request (SQLite)...", file=sys.stderr)
        results["proxy"] = proxy_overhead(f"sqlite:///{WORK_DIR / 'proxy.db'}")
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["total_seconds"] = time.monotonic() - started
    written = results
    if args.section:
        written = json.loads((BENCH_DIR / "results.json").read_text())
        written[args.section] = {k: v for k, v in results.items() if k != "targets"}
    (BENCH_DIR / "results.json").write_text(json.dumps(written, indent=2) + "\n")
    print()
    for name in backends:
        print(table(name, results[name]))
        print()
    print("\n".join(plugin_bench.table(results["plugin"])))
    print()
    if "clock" in results:
        print("\n".join(clock_bench.table(results["clock"])))
        print()
    if "proxy" in results:
        print("\n".join(proxy_table(results["proxy"])))
        print()
    load = results["machine"]
    print(f"{load['cpus']} CPUs; load average {load['load_average_at_start'][0]:.1f} at start, "
          f"{load['load_average_at_end'][0]:.1f} at end (other processes share the machine). "
          f"Total {results['total_seconds']:.0f} s. Written to bench/results.json.")
    return 0


def main_proxy_only() -> int:
    """`--proxy-only`: the proxy's part of bench/results.json, the rest kept as it was."""
    path = BENCH_DIR / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    load_at_start = os.getloadavg()
    started = time.monotonic()
    proxy = proxy_overhead(f"sqlite:///{WORK_DIR / 'proxy.db'}")
    proxy.update({
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": time.monotonic() - started,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": load_at_start,
                    "load_average_at_end": os.getloadavg()},
    })
    results["proxy"] = proxy
    results.setdefault("targets", {})["proxy_added_p50_ms"] = TARGETS["proxy_added_p50_ms"]
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(proxy_table(proxy)))
    print(f"Load average {load_at_start[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end. "
          "Written to bench/results.json (its 'proxy' part).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
