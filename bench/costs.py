"""What one request costs the database, in-process (bench/counting.py), server and raw
app; the large task's JSON against json.dumps; and the table of round trips."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event

from bench import counting, raw_app
from bench.common import (
    MEASURE_TASKS,
    MEASURED,
    WARM_UP,
    bench_app,
)
from sendai_server.web.context import engine_of


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

