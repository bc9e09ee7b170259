"""`make bench-snapshots`: what a snapshot and a restore cost (docs/snapshots.md), beside
building the same state through the API, for a team of 1,000 tasks of 10 pages each.

For SQLite (always) and PostgreSQL (when BENCH_DATABASE_URL names a database this may empty):

1. builds the state through the API, in-process (Flask's test client: the API without HTTP):
   1,000 `POST …/test_helpers/task`, each with 10 pages of 2 annotations and a checkbox;
2. takes a snapshot of the team (`POST …/snapshots`), three times;
3. changes the team (discards 50 tasks, makes 50 more) and restores the snapshot, three times;
4. exports the snapshot and imports the file (into the same team).

Then the pytest plugin (sendai_server/testing, SQLite, over HTTP): `sendai_state(name, build)`
with the same state, and what starting a test from it costs (`restore()`), ten times.

Prints the figures and merges them into bench/results.json under `snapshots` (other keys are
left as they are).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from sendai_server import create_app  # noqa: E402
from sendai_server.config import Config  # noqa: E402
from sendai_server.services.keys import create_key  # noqa: E402
from sendai_server.services.projects import ProjectSettings, create_project, create_team  # noqa: E402
from sendai_server.store import migrate  # noqa: E402
from sendai_server.store.db import make_engine  # noqa: E402
from sendai_server.store.uow import UnitOfWork  # noqa: E402

RESULTS = REPO / "bench" / "results.json"
STATUSES = ("REVIEWING", "COMPLETED", "FAILED", "FILTERED", "DISCARDED", "REVIEWING")


def page(n: int) -> dict[str, Any]:
    return {"width": 2480, "height": 3508,
            "annotations": [{"entity_id": f"field_{k}", "confidence": 0.9, "content": f"v{n}{k}",
                             "top": 100.0 + k, "left_of_line": 40.0} for k in range(2)],
            "checkboxes": [{"confidence": 0.8, "checked": n % 2 == 0,
                            "coordinates": [[1, 1], [2, 1], [2, 2], [1, 2]]}]}


def task_body(n: int, pages: int) -> dict[str, Any]:
    return {"name": f"Invoice {n}", "status": STATUSES[n % len(STATUSES)],
            "pages": [page(p) for p in range(pages)],
            "meta": [{"name": "n", "value": str(n)}]}


def _empty_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def _timed(action: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def bench_backend(url: str, folder: Path, tasks: int, pages: int, runs: int) -> dict[str, Any]:
    if url.startswith("postgresql"):
        _empty_postgres(url)
    migrate.upgrade(url)
    config = Config(env="test", database_url=url, test_helpers=True, log_level="WARNING",
                    storage_url=str(folder / "files"), pipeline_delay=0.0,
                    max_upload_bytes=512 * 1024 * 1024)
    app = create_app(config)
    engine = app.extensions["sendai_engine"]
    with UnitOfWork(engine) as uow:
        team = create_team(uow, "bench team")
        project, _ = create_project(uow, team, "bench", ProjectSettings(pipeline="manual"))
        key = create_key(uow, team, ["test_helpers", "task.read", "task.edit"], [project],
                         "bench").key
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    base = f"/v2/{team}/project/{project}"

    def post(path: str, status: int, **kwargs: Any) -> Any:
        response = client.post(path, headers=headers, **kwargs)
        assert response.status_code == status, (path, response.get_data(as_text=True)[:300])
        return response.get_json()

    def build() -> list[str]:
        return [post(f"{base}/test_helpers/task", 201, json=task_body(n, pages))["payload"]["id"]
                for n in range(tasks)]

    build_seconds, ids = _timed(build)
    with engine.connect() as conn:
        rows = {t: conn.scalar(text(f"SELECT count(*) FROM {t}"))  # noqa: S608 - fixed names
                for t in ("task", "page", "annotation", "checkbox", "task_event", "upload")}

    snapshot_times = []
    snapshot: dict[str, Any] = {}
    for _ in range(runs):
        seconds, made = _timed(lambda: post(f"/v2/{team}/test_helpers/snapshots", 201,
                                            json={"name": "bench"}))
        snapshot_times.append(seconds)
        snapshot = made["payload"]

    restore_times = []
    for round_ in range(runs):
        for task_id in ids[round_ * 50:(round_ + 1) * 50]:
            client.post(f"{base}/task/{task_id}/discard", headers=headers)
        for n in range(50):
            post(f"{base}/test_helpers/task", 201, json=task_body(tasks + n, 1))
        seconds, _ = _timed(lambda: post(
            f"/v2/{team}/test_helpers/snapshots/{snapshot['id']}/restore", 200))
        restore_times.append(seconds)

    export_seconds, exported = _timed(lambda: client.get(
        f"/v2/{team}/test_helpers/snapshots/{snapshot['id']}/export", headers=headers).data)
    import_seconds, _ = _timed(lambda: post(
        f"/v2/{team}/test_helpers/snapshots/import", 201, data=exported,
        content_type="application/vnd.sendai.snapshot"))
    engine.dispose()
    snapshot_median = statistics.median(snapshot_times)
    restore_median = statistics.median(restore_times)
    return {
        "tasks": tasks, "pages_per_task": pages, "rows": rows,
        "build_through_api_seconds": round(build_seconds, 3),
        "snapshot_seconds": {"median": round(snapshot_median, 4),
                             "runs": [round(s, 4) for s in snapshot_times]},
        "restore_seconds": {"median": round(restore_median, 4),
                            "runs": [round(s, 4) for s in restore_times]},
        "restore_vs_build": round(build_seconds / restore_median, 1),
        "snapshot_bytes": snapshot["bytes"],
        "export_seconds": round(export_seconds, 3), "export_file_bytes": len(exported),
        "import_seconds": round(import_seconds, 3),
    }


def bench_plugin(folder: Path, tasks: int, pages: int, runs: int) -> dict[str, Any]:
    """The plugin's session state: built once, then each test's start is one restore."""
    from sendai_server.testing.server import SendAIServer
    from sendai_server.testing.states import SavedState

    server = SendAIServer(folder)
    try:
        def build(project: Any) -> None:
            for n in range(tasks):
                project._call("POST", "/test_helpers/task", task_body(n, pages))

        build_seconds, saved = _timed(lambda: SavedState(server, "bench", build))
        starts = []
        for _ in range(runs):
            project = saved.project
            project.task(status="COMPLETED")  # what a test changes
            seconds, _ = _timed(saved.restore)
            starts.append(seconds)
    finally:
        server.close()
    median = statistics.median(starts)
    return {"tasks": tasks, "pages_per_task": pages,
            "build_once_seconds": round(build_seconds, 3),
            "per_test_start_seconds": {"median": round(median, 4),
                                       "runs": [round(s, 4) for s in starts]},
            "tests_per_build": round(build_seconds / median, 1),
            "target_per_test_start_seconds": 0.05,  # issue 32
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--plugin-only", action="store_true",
                        help="measure only the plugin; keep the databases' figures")
    args = parser.parse_args()
    figures: dict[str, Any] = {"when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "machine": {"python": platform.python_version(),
                                           "cpus": os.cpu_count()}}
    if args.plugin_only:
        kept = json.loads(RESULTS.read_text()).get("snapshots", {})
        figures.update({k: v for k, v in kept.items() if k in ("sqlite", "postgresql")})
    with tempfile.TemporaryDirectory(prefix="sendai-bench-snapshots-") as tmp:
        folder = Path(tmp)
        (folder / "sqlite").mkdir()
        if not args.plugin_only:
            figures["sqlite"] = bench_backend(f"sqlite:///{folder / 'sqlite' / 'bench.db'}",
                                              folder / "sqlite", args.tasks, args.pages,
                                              args.runs)
            print(json.dumps({"sqlite": figures["sqlite"]}, indent=1), flush=True)
        postgres = os.environ.get("BENCH_DATABASE_URL")
        if postgres and not args.plugin_only:
            (folder / "pg").mkdir()
            figures["postgresql"] = bench_backend(postgres, folder / "pg", args.tasks,
                                                  args.pages, args.runs)
            print(json.dumps({"postgresql": figures["postgresql"]}, indent=1), flush=True)
        (folder / "plugin").mkdir()
        figures["plugin"] = bench_plugin(folder / "plugin", args.tasks, args.pages,
                                         max(args.runs, 10))
        print(json.dumps({"plugin": figures["plugin"]}, indent=1), flush=True)
    if not args.no_write:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["snapshots"] = figures
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
