"""Flatness: discard p50 with 1,000,000 tasks in the table against 1,000 (`--no-flatness`
skips it)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from bench.common import (
    bench_app,
    create_batch,
    fresh_database,
)
from bench.servers import app_server, sequential_latencies
from sendai_server.services.demo import seed_demo
from sendai_server.store.db import make_engine
from sendai_server.store.uow import UnitOfWork
from sendai_server.web.context import engine_of


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
